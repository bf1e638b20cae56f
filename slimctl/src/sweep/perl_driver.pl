# slimctl's sweep driver for Perl: requires each module named on stdin (one a line), each in an
# eval with a time limit, and says which failed. It loads nothing itself (no strict, no
# warnings): every file the sensor sees after a mark is the item's own. A module that calls
# exit while it loads dies instead, and the driver goes on.
BEGIN { *CORE::GLOBAL::exit = sub { die "the module called exit\n" }; }
my $limit = 5;
sub say_ { my $line = "\x1eslimctl-sweep $_[0]\n"; syswrite(STDOUT, $line); }
sub mark { my @s = stat("/.slimctl-mark/$_[0]"); }
my @names = grep { length } map { my $n = $_; $n =~ s/\s+$//; $n } <STDIN>;
say_("start " . scalar(@names));
for my $i (0 .. $#names) {
    my $name = $names[$i];
    (my $file = "$name.pm") =~ s{::}{/}g;
    mark($i);
    my $ok = eval {
        local $SIG{ALRM} = sub { die "took longer than $limit s\n" };
        alarm $limit;
        require $file;
        alarm 0;
        1;
    };
    alarm 0;
    my $error = $@;
    mark("");
    if (!$ok) {
        $error =~ s/\n/ /g;
        $error =~ s/\s+$//;
        say_("failed $i " . substr("Error: $error", 0, 160));
    }
}
say_("done " . scalar(@names));
CORE::exit(0);
