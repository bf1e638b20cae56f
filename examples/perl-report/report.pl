#!/usr/bin/perl
# Sums orders per customer from a CSV file: a text table by default, JSON with --json.
use strict;
use warnings;
use Getopt::Long qw(GetOptions);
use List::Util qw(sum);

my $json = 0;
GetOptions('json' => \$json) or die "usage: orders-report [--json] FILE\n";
my $file = shift @ARGV or die "usage: orders-report [--json] FILE\n";

open(my $fh, '<', $file) or die "cannot read $file: $!\n";
my $header = <$fh>;
my %total;
while (my $line = <$fh>) {
    chomp $line;
    my ($customer, $amount) = split /,/, $line;
    $total{$customer} += $amount;
}
close $fh;

if ($json) {
    print to_json(\%total), "\n";
} else {
    printf "%-10s %8.2f\n", $_, $total{$_} for sort keys %total;
    printf "%-10s %8.2f\n", 'all', sum(values %total);
}

sub to_json {
    my ($data) = @_;
    require JSON::PP;
    return JSON::PP->new->canonical->encode($data);
}
