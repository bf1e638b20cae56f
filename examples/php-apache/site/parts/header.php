<!doctype html>
<html><head><title><?= htmlspecialchars($title) ?></title></head>
<body><nav><a href="/">Home</a></nav><h1><?= htmlspecialchars($title) ?></h1>
