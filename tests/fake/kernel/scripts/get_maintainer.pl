#!/usr/bin/perl
# Fake get_maintainer.pl: people and lists by the paths a patch touches, in
# the real script's --roles --no-rolestats format.  It refuses to run without
# --no-git, so that the workbench never asks git history.
use strict;
my $path = $ARGV[-1];
grep { $_ eq '--no-git' } @ARGV or die "fake get_maintainer.pl: pass --no-git\n";
open(my $f, '<', $path) or die "cannot open $path";
my (%seen, @out);
sub add { push @out, $_[0] unless $seen{$_[0]}++; }
while (<$f>) {
	next unless m{^\+\+\+ b/(\S+)};
	if ($1 =~ m{^arch/arm64/}) {
		add("Arm Keeper <arm.keeper\@invalid> (maintainer:KVM/arm64 (FAKE))");
		add("Arm Reader <arm.reader\@invalid> (reviewer:KVM/arm64 (FAKE))");
		add("kvmarm\@lists.invalid (open list:KVM/arm64 (FAKE))");
	} elsif ($1 =~ m{^tools/testing/selftests/}) {
		add("Self Tester <self.tester\@invalid> (maintainer:KSELFTEST)");
		add("linux-kselftest\@lists.invalid (open list:KSELFTEST)");
	} else {
		add("Rest Keeper <rest.keeper\@invalid> (chief penguin:THE REST)");
	}
}
add("linux-kernel\@lists.invalid (open list)");
print "$_\n" for @out;
