<?php
// Linked from nowhere: the page the shop's newsletter points to. It builds a message with
// PHPMailer (Debian's libphp-phpmailer, on the include path) without sending it.
require_once 'libphp-phpmailer/autoload.php';

use PHPMailer\PHPMailer\PHPMailer;

$mail = new PHPMailer(true);
$mail->setFrom('shop@example.com', 'Garden supplies');
$mail->addAddress('customer@example.com');
$mail->Subject = 'Your question';
$mail->Body = 'We will answer within a day.';
$mail->preSend();
header('Content-Type: text/plain');
echo "message ready: ", strlen($mail->getSentMIMEMessage()) > 0 ? "yes" : "no", "\n";
