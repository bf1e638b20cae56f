<?php $title = "Garden supplies"; include __DIR__ . '/parts/header.php'; ?>
<p>Seeds, soil and tools since <?= date('Y', 946684800) ?>.</p>
<p>See what we <a href="/about.php">are about</a>.</p>
<?php include __DIR__ . '/parts/footer.php'; ?>
