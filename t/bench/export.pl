#!/usr/bin/perl
# Benchmark (issue 12, api mode): a synthetic Slack export of about 100,000
# messages (BENCH_MESSAGES; 2,000 users, BENCH_USERS; 112 channels, the
# large ones of equal size) ingested once, then its
# messages exported into the Mattermost emulator answering every call after
# BENCH_LATENCY seconds (0.005), at EXPORT_CHANNEL_CONCURRENCY = each of
# BENCH_CHANNELS (1,4,16), BENCH_RUNS times each (2). Printed beside the
# bound EXPORT_CHANNEL_CONCURRENCY / latency (each channel's posts go one
# after the other, so no client can beat it) and the emulator's own ceiling,
# measured in the same run the same way: wrk posting with as many
# connections for BENCH_WRK_SECONDS (5), a client that costs nothing.
#
# Each run gets a fresh emulator (it keeps every post in memory) and a fresh
# ferryd (its peak RSS is the run's); users and channels are exported into
# it first, untimed and without latency, then the messages are timed
# (types ["message"]). At the top concurrency every message is exported; at
# a lower one only the earliest share (concurrency / top) of each channel's
# messages, so that a run at 1 channel takes about as long as one at 16 and
# every thread's root is still in before its replies; the rest is marked
# skipped for the run. Two rates: the message phase (the first post to the
# last, by their create_at in the emulator) and the whole export (POST
# /export to done, which adds minting a token per author and revoking
# them).
#
# BENCH_LOG_LEVEL sets ferryd's (info); debug logs each call's time.
# `./build.sh bench export` runs export_bulk.pl after this one.

use strict;
use warnings;
use HTTP::Tiny;
use Time::HiRes qw(time);
use lib 't/lib';
use Ferry::Test;
use Ferry::Export;
use Ferry::Mattermost;

my $runs = $ENV{BENCH_RUNS} || 2;
my $messages = $ENV{BENCH_MESSAGES} || 100_000;
my $users = $ENV{BENCH_USERS} || 2_000;
my $latency = $ENV{BENCH_LATENCY} // 0.005;
my @levels = sort { $a <=> $b } split /,/, ($ENV{BENCH_CHANNELS} || '1,4,16');
my $wrk_seconds = $ENV{BENCH_WRK_SECONDS} || 5;
my $top = $levels[-1];

$ENV{TMPDIR} = '/dev/shm' if -d '/dev/shm' && -w '/dev/shm';
my $t = Ferry::Test->new;
$t->{nginx_log_level} = 'error';
my $spool = $t->writable_dir('spool');
$t->start_pg->migrate;
my %base = (SPOOL_DIR => $spool, LOG_LEVEL => $ENV{BENCH_LOG_LEVEL} || 'info', JOB_WORKERS => 1);
$t->start_ferryd(%base);
$t->start_nginx(Ferry::Export::conf("        access_log off;\n        client_max_body_size 4g;\n"));
my $x = Ferry::Export->new($t, 'bench@example.com');
# Slack's avatars (a user's picture is uploaded as they are made)
my $slack = Ferry::Export::slack_files($t);

# No files and no custom emoji: the message phase is what is measured.
# Messages per day rather than a total: a total is spread Zipf-like
# (general gets a third), and a channel's posts go one after the other, so
# one large channel would bound the run whatever the concurrency; per day,
# the 48 channels get 30 days each and the 64 DMs and group DMs 10 days of
# half as many. 48 and 64 are multiples of every concurrency measured, so
# that the channels, largest first, keep every worker busy to the end: with
# 50 and 70 (until 2026-12-02) the last round at 16 had 2 large channels
# for 16 workers, and no client could pass 0.964x of the bound (printed
# below as the channels' own ceiling).
my $t0 = time;
my $f = $x->ingest(seed => 1, users => $users, days => 30,
                   messages_per_day => int($messages / (48 * 30 + 64 * 10 / 2) + 0.5),
                   public => 38, private => 10, dms => 54, mpims => 10, files => 0,
                   custom_emoji => 0, avatars_base => $slack->url, facts => 'counts', wait => 3600);
my $channels = $t->psql("SELECT count(*) FROM entities WHERE entity_type = 'channel'");
my $biggest = $t->psql("SELECT max(n) FROM (SELECT count(*) AS n FROM entity_relations "
                     . "WHERE relation_type = 'posted_in' GROUP BY to_entity_id) c");
printf "export: %d messages, %d users, %d channels (the largest %d messages); generated and "
     . "ingested in %.0f s\nemulator latency %.1f ms a call; %d run(s) per concurrency\n\n",
    $f->{counts}{message}, $f->{counts}{user}, $channels, $biggest, time - $t0, $latency * 1000, $runs;

# An export to its end; returns GET /export/{id}'s answer and the seconds
# from the job's creation to its end (its own timestamps: the poll's
# interval does not count). Polled once a second (BENCH_POLL), as a client
# watching it would: the answer counts every entity by type and status, a
# scan of the table (60-90 ms of PostgreSQL's time with 100,000 messages)
# that ferryd makes at most every 5 s while the export runs.
sub export {
    my (@types) = @_;
    my $r = $x->export(team => 'bench', types => \@types);
    my $id = $r->{json}{id} or die "POST /export: $r->{content}";
    my $j = $x->finished($id, 3600, $ENV{BENCH_POLL} || 1);
    die "export $j->{status}: " . ($j->{error} // '') unless $j->{status} eq 'done';
    return ($j, $t->psql("SELECT extract(epoch FROM finished_at - created_at) FROM jobs WHERE id = '$id'"));
}

# wrk's posts into one channel with C connections: the emulator's ceiling
# (Ferry's post's shape, with a key no message has)
my $WRK_KEY = '1600000000.000100';
sub wrk_ceiling {
    my ($mm, $c) = @_;
    my $ch = $t->psql("SELECT mattermost_id FROM entities WHERE entity_type = 'channel' "
                    . "AND status = 'success' ORDER BY id LIMIT 1");
    my $lua = $t->dir . '/post.lua';
    $t->write_file('post.lua', <<"EOF");
wrk.method = "POST"
wrk.body = '{"channel_id":"$ch","file_ids":[],"message":"a message of some length, as Slack has them","props":{"ferry_slack_id":"$WRK_KEY"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${\ $mm->admin_token }"
EOF
    my ($rc, $o) = $t->run_cmd(['wrk', '-t1', "-c$c", "-d${wrk_seconds}s", '-s', $lua,
                                $mm->url . '/api/v4/posts']);
    die "wrk: $o" if $rc || $o =~ /Non-2xx/;
    return ($o =~ /Requests\/sec:\s+([\d.]+)/)[0] // die "wrk: $o";
}

# When the emulator made each message's post (create_at, ms; the api mode
# dates a post when it is made), in order: the message phase is the first
# post to the last as Mattermost saw them, not as ferryd recorded them (a
# batch's outcomes are recorded together).
sub made_at {
    my ($mm) = @_;
    my $res = HTTP::Tiny->new(timeout => 300)->get($mm->url . '/__mm/state');
    die "GET /__mm/state: $res->{status}" unless $res->{success};
    my $st = Ferry::Peer::json_codec()->utf8->decode($res->{content});
    # wrk's posts (made before, with a key of their own) left out
    return sort { $a <=> $b } map { $_->{create_at} }
        grep { my $k = ($_->{props} || {})->{ferry_slack_id}; $k && $k ne $WRK_KEY } @{ $st->{posts} };
}

# What the channels' sizes allow at concurrency c: each channel's pending
# messages one after the other, the largest channels first, each to the
# worker free first (as ferryd starts them); all messages over c times the
# busiest worker's, as a share of the bound.
sub ceiling {
    my ($c) = @_;
    my @sizes = sort { $b <=> $a } split /\n/, $t->psql(
        "SELECT count(*) FROM entities m JOIN entity_relations r ON r.from_entity_id = m.id "
      . "AND r.relation_type = 'posted_in' WHERE m.entity_type = 'message' "
      . "AND m.status = 'pending' GROUP BY r.to_entity_id");
    my @load = (0) x $c;
    my $all = 0;
    for my $n (@sizes) {
        @load = sort { $a <=> $b } @load;
        $load[0] += $n;
        $all += $n;
    }
    my $busiest = (sort { $b <=> $a } @load)[0] || 1;
    return $all / ($c * $busiest);
}

my (%phase, %whole, %wrk, %n, %ceiling, $hwm);
for my $c (@levels) {
    my $share = $c / $top;
    for my $run (1 .. $runs) {
        my $mm = Ferry::Mattermost->new($t, name => "mm-$c-$run", team_name => 'bench', journal => 0)->start;
        $t->stop_ferryd;
        $t->start_ferryd(%base, SLACK_API_URL => $slack->url . '/api', MM_URL => $mm->url,
                         MM_TOKEN => $mm->admin_token, EXPORT_WORKERS => 16,
                         EXPORT_CHANNEL_CONCURRENCY => $c, DB_POOL_SIZE => $c + 8);
        $t->psql("UPDATE entities SET status = 'pending', mattermost_id = NULL, error_message = NULL "
               . "WHERE entity_type IN ('user', 'channel')");
        $t->psql("UPDATE entities SET status = 'skipped', mattermost_id = NULL, "
               . "error_message = 'left out of this benchmark run' WHERE entity_type = 'message'");
        $t->psql("WITH k AS (SELECT m.id, row_number() OVER w AS i, count(*) OVER w AS n "
               . "FROM entities m JOIN entity_relations r ON r.from_entity_id = m.id "
               . "AND r.relation_type = 'posted_in' WHERE m.entity_type = 'message' "
               . "WINDOW w AS (PARTITION BY r.to_entity_id ORDER BY (m.raw_data->>'ts')::numeric, m.id "
               . "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) "
               . "UPDATE entities e SET status = 'pending', error_message = NULL FROM k "
               . "WHERE e.id = k.id AND k.i <= ceil(k.n * $share)");
        $ceiling{$c} //= ceiling($c);
        export('user', 'channel');

        $mm->latency($latency);
        push @{ $wrk{$c} }, wrk_ceiling($mm, $c);

        my @cpu0 = cpu_times();
        my ($j, $took) = export('message');
        my @cpu1 = cpu_times();
        my $steal = steal(\@cpu0, \@cpu1);
        push @{ $whole{$c} }, $took;
        my $done = $t->psql("SELECT count(*) FROM entities WHERE entity_type = 'message' "
                          . "AND status = 'success'");
        my $m = $j->{counts}{message};
        # the emulator's size before it is asked for its whole state
        my $emu = (`grep VmRSS /proc/${\ $mm->peer->pid}/status` =~ /(\d+)/)[0] // 0;
        my @at = made_at($mm);
        die "no message exported" unless $done > 1 && @at > 1;
        my $span = ($at[-1] - $at[0]) / 1000;
        push @{ $phase{$c} }, $span / (@at - 1);
        $n{$c} = $done;
        my $h = (`grep VmHWM /proc/$t->{procs}{ferryd}/status` =~ /(\d+)/)[0] // 0;
        $hwm = $h if !$hwm || $h > $hwm;
        printf "%2d channel(s), run %d: wrk %.0f posts/s; Ferry %d messages (%d failed), message phase "
             . "%.2f s = %.0f messages/s, POST /export to done %.2f s = %.0f/s; ferryd peak RSS %.1f MB, "
             . "emulator %.0f MB; steal %.0f %%\n", $c, $run, $wrk{$c}[-1], $done, $m->{failed} // 0, $span,
            1 / $phase{$c}[-1], $whole{$c}[-1], $done / $whole{$c}[-1], $h / 1024, $emu / 1024, $steal;
        $mm->stop;
    }
}

# The machine's CPU times (/proc/stat, all CPUs): steal is what the
# hypervisor gave to other machines while this one wanted to run, so a run
# with much of it measured the host's neighbours as much as Ferry.
sub cpu_times {
    open my $fh, '<', '/proc/stat' or return;
    my ($line) = grep { /^cpu / } <$fh>;
    return split ' ', ($line // '') =~ s/^cpu\s+//r;
}

# Steal as a share of all CPU time between two readings, in per cent
sub steal {
    my ($before, $after) = @_;
    return 0 unless @$before >= 8 && @$after >= 8;
    my ($all, $stolen) = (0, $after->[7] - $before->[7]);
    $all += $after->[$_] - $before->[$_] for 0 .. 7;
    return $all > 0 ? 100 * $stolen / $all : 0;
}

sub best { (sort { $a <=> $b } @_)[0] }
sub median { my @s = sort { $a <=> $b } @_; @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2 }

print "\nmessages/s (one post each), best / median of $runs run(s):\n";
printf "%-9s %8s %17s %17s %17s %9s\n", 'channels', 'bound', 'wrk (ceiling)', 'Ferry: phase',
    'Ferry: whole', 'messages';
for my $c (@levels) {
    my $bound = $c / $latency;
    # wrk's best is its highest rate; Ferry's best its shortest time
    my @w = sort { $b <=> $a } @{ $wrk{$c} };
    printf "%-9d %8.0f %8.0f / %6.0f %8.0f / %6.0f %8.0f / %6.0f %9d\n", $c, $bound, $w[0], median(@w),
        1 / best(@{ $phase{$c} }), 1 / median(@{ $phase{$c} }),
        $n{$c} / best(@{ $whole{$c} }), $n{$c} / median(@{ $whole{$c} }), $n{$c};
    printf "%-9s %8s %8.2fx / %5.2fx %8.2fx / %5.2fx %8.2fx / %5.2fx  (of the bound; target >= 0.8x)\n", '',
        '1.00x', $w[0] / $bound, median(@w) / $bound,
        1 / best(@{ $phase{$c} }) / $bound, 1 / median(@{ $phase{$c} }) / $bound,
        $n{$c} / best(@{ $whole{$c} }) / $bound, $n{$c} / median(@{ $whole{$c} }) / $bound;
    printf "%-9s %8s %17s %8.2fx %17s  (the channels' own ceiling: their sizes allow no more)\n",
        '', '', '', $ceiling{$c}, '';
    printf "%-9s %8s %17s %8.2fx / %5.2fx %8.2fx / %5.2fx  (of wrk's ceiling)\n", '', '', '',
        1 / best(@{ $phase{$c} }) / $w[0], 1 / median(@{ $phase{$c} }) / median(@w),
        $n{$c} / best(@{ $whole{$c} }) / $w[0], $n{$c} / median(@{ $whole{$c} }) / median(@w);
}
printf "ferryd peak RSS: %.1f MB (target < 128 MB)\n", $hwm / 1024;

$t->done;
