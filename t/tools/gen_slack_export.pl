#!/usr/bin/perl
# Writes the large synthetic Slack export the Slack import benchmark reads (1,000,000 messages
# and 100,000 users by default; Ferry::SlackExport, streamed a day file at a time) and reports
# how long it took, its size and the generator's peak memory. Without OUT.zip it writes into a
# temp dir and deletes the file afterwards: it measures the generator itself.
#
#   t/tools/gen_slack_export.pl [OUT.zip] [--messages N] [--users N] [--seed S] [--days D]
#       [--public N] [--private N] [--dms N] [--mpims N] [--file-bytes url|in_zip] [--level L]
#       [--zip64] [--facts FILE.json]

use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use Getopt::Long;
use JSON::PP;
use Time::HiRes qw(time);
use lib "$FindBin::Bin/../lib";
use Ferry::SlackExport;

my %o = (messages => 1_000_000, users => 100_000, seed => 1, days => 60, public => 200,
         private => 40, dms => 300, mpims => 40, 'file-bytes' => 'url', level => 6);
GetOptions(\%o, 'messages=i', 'users=i', 'seed=i', 'days=i', 'public=i', 'private=i', 'dms=i',
           'mpims=i', 'file-bytes=s', 'level=i', 'zip64', 'facts=s')
    or die "usage: $0 [OUT.zip] [--messages N] [--users N] [--seed S] ...\n";
my $out = shift;
my $tmp;
unless (defined $out) {
    $tmp = tempdir('slack-export-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $out = "$tmp/export.zip";
}

my $t0 = time;
my $x = Ferry::SlackExport->new(
    seed => $o{seed}, users => $o{users}, messages => $o{messages}, days => $o{days},
    public => $o{public}, private => $o{private}, dms => $o{dms}, mpims => $o{mpims},
    file_bytes => $o{'file-bytes'}, level => $o{level}, zip64 => $o{zip64} ? 1 : 0,
    facts => 'counts');
my $f = $x->write($out);
my $secs = time - $t0;

my ($rss) = do { open my $s, '<', '/proc/self/status'; map { /^VmHWM:\s+(\d+)/ ? $1 : () } <$s> };
printf "%s: %.1f MB, %d members, %d messages, %d users, %d channels, %d reactions, %d files\n",
    $tmp ? 'export (deleted afterwards)' : $out, $f->{size} / 1e6, $f->{member_count},
    $f->{counts}{message}, $f->{counts}{user}, $f->{counts}{channel}, $f->{counts}{reaction},
    $f->{counts}{attachment};
printf "written in %.1f s (%.0f messages/s), peak RSS %.0f MB\n", $secs, $f->{counts}{message} / $secs,
    ($rss // 0) / 1024;
if ($o{facts}) {
    open my $fh, '>', $o{facts} or die "$o{facts}: $!";
    print {$fh} JSON::PP->new->utf8->canonical->pretty->encode($f);
}
