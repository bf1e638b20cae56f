<?php $title = "About us"; include __DIR__ . '/parts/header.php'; ?>
<p>A family business.</p>
<?php include __DIR__ . '/parts/footer.php'; ?>
