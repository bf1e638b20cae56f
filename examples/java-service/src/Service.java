import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import javax.imageio.ImageIO;

/** A small JSON service on the JDK's own HTTP server, with a chart drawn on demand. */
public class Service {
    static final int[] SALES = {12, 30, 22, 41, 18};

    public static void main(String[] args) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(8090), 0);
        server.createContext("/", Service::index);
        // Linked from nowhere: the dashboard embeds it. Drawing needs java.desktop's natives,
        // its caption fontconfig and a font.
        server.createContext("/chart.png", Service::chart);
        server.start();
        System.out.println("listening on 8090");
    }

    static void index(HttpExchange ex) throws IOException {
        int total = 0;
        for (int s : SALES) total += s;
        send(ex, "application/json", ("{\"days\": " + SALES.length + ", \"total\": " + total + "}").getBytes(StandardCharsets.UTF_8));
    }

    static void chart(HttpExchange ex) throws IOException {
        BufferedImage img = new BufferedImage(100, 50, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, 100, 50);
        g.setColor(Color.BLUE);
        for (int i = 0; i < SALES.length; i++) g.fillRect(5 + i * 19, 50 - SALES[i], 15, SALES[i]);
        // The caption: text goes through fontconfig, and the font it picks depends on the text.
        g.setColor(Color.BLACK);
        g.drawString("sales", 2, 12);
        g.dispose();
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(img, "png", png);
        send(ex, "image/png", png.toByteArray());
    }

    static void send(HttpExchange ex, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(200, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }
}
