#!/usr/bin/perl
# Fake checkpatch.pl: a patch that adds a line containing BADSTYLE fails.
my $path = $ARGV[-1];
open(my $f, '<', $path) or die "cannot open $path";
while (<$f>) {
	if (/^\+.*BADSTYLE/) {
		print "ERROR:FAKE_STYLE: BADSTYLE is not kernel style\n";
		exit 1;
	}
}
exit 0;
