/* A minimal HTTP/1.0 JSON service in C: the native-binary example for slimctl.
 * GET /          -> service info
 * GET /greeting  -> the contents of /usr/share/c-http/greeting.txt (read per request)
 * GET /health    -> {"ok": true}
 * GET /archive   -> the greeting compressed by the system's gzip, found on PATH (linked from
 *                   nowhere: only the binary's own strings name gzip)
 * anything else  -> 404 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void reply(int fd, int status, const char *body)
{
	char head[256];
	const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Internal Server Error";
	int n = snprintf(head, sizeof head,
			 "HTTP/1.0 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n", status,
			 reason, strlen(body));
	if (write(fd, head, n) < 0 || write(fd, body, strlen(body)) < 0)
		perror("write");
}

static void greeting(int fd)
{
	char text[512] = {0}, body[600];
	FILE *f = fopen("/usr/share/c-http/greeting.txt", "r");
	if (!f) {
		reply(fd, 404, "{\"error\": \"no greeting\"}");
		return;
	}
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '"'))
		text[--n] = 0;
	snprintf(body, sizeof body, "{\"greeting\": \"%s\"}", text);
	reply(fd, 200, body);
}

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void archive(int fd)
{
	int out[2];
	if (pipe(out) < 0) {
		reply(fd, 500, "{\"error\": \"pipe\"}");
		return;
	}
	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, out[1], 1);
	posix_spawn_file_actions_addclose(&actions, out[0]);
	char *argv[] = {"gzip", "-c", "/usr/share/c-http/greeting.txt", NULL};
	pid_t pid;
	int rc = posix_spawnp(&pid, "gzip", &actions, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	close(out[1]);
	size_t total = 0;
	char buf[4096];
	ssize_t n;
	while ((n = read(out[0], buf, sizeof buf)) > 0)
		total += (size_t)n;
	close(out[0]);
	int status = 1;
	if (rc == 0)
		waitpid(pid, &status, 0);
	if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || total == 0)
		reply(fd, 500, "{\"error\": \"gzip failed\"}");
	else
		reply(fd, 200, "{\"archive\": \"gzip\"}");
}

int main(void)
{
	const char *port_env = getenv("PORT");
	int port = port_env ? atoi(port_env) : 8081;
	signal(SIGTERM, on_term);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 16) < 0) {
		perror("listen");
		return 1;
	}
	printf("listening on :%d\n", port);
	fflush(stdout);
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		char req[2048] = {0};
		ssize_t n = read(c, req, sizeof req - 1);
		char method[8] = {0}, path[256] = {0};
		if (n > 0 && sscanf(req, "%7s %255s", method, path) == 2) {
			if (!strcmp(path, "/"))
				reply(c, 200, "{\"service\": \"c-http\", \"language\": \"C\"}");
			else if (!strcmp(path, "/greeting"))
				greeting(c);
			else if (!strcmp(path, "/archive"))
				archive(c);
			else if (!strcmp(path, "/health"))
				reply(c, 200, "{\"ok\": true}");
			else
				reply(c, 404, "{\"error\": \"not found\"}");
		}
		close(c);
	}
}
