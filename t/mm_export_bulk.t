#!/usr/bin/perl
# The bulk mode of the Mattermost export (issue 12): an ingested synthetic
# Slack export becomes one bulk-import archive (import.jsonl and the files
# under data/) in REPORTS_DIR behind a signed link. Without MM_URL that is
# all; with it the archive is uploaded to the emulator
# (t/lib/Ferry/Mattermost.pm), whose import_process job validates and
# applies it as the server does, and the export ends with that job. The
# archive's content is checked against the rows: threads nested under
# their roots, authors, create_at from Slack's ts, reactions, files in the
# zip, DMs; a bad team fails cleanly.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;
use Ferry::Export;
use Ferry::Mattermost;
use Ferry::Peer;
use IO::Uncompress::Unzip qw($UnzipError);
use JSON::PP;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $spool = $t->writable_dir('spool');
my $reports = $t->writable_dir('reports');
my $port = $t->port;

# Slack's side: the custom emoji images (a 1x1 GIF), and what asked for them
my $gif = "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
        . ",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
my $slack = Ferry::Peer->new($t, name => 'slack');
$slack->route(GET => '/*rest' => sub { return (200, $gif, { 'Content-Type' => 'image/gif' }) });
$slack->start;

my $mm = Ferry::Mattermost->new($t, team_name => 'migrated', job_step => 0.05)->start;
$t->start_pg->migrate;
my %set = (SPOOL_DIR => $spool, REPORTS_DIR => $reports, REPORTS_URL => "http://127.0.0.1:$port/reports",
           SLACK_API_URL => $slack->url . '/api', SLACK_TOKEN => 'xoxb-bulk-test', MM_API_MODE => 'bulk');
$t->start_ferryd(%set);
$t->start_nginx(Ferry::Export::conf(<<'EOF'));
        location /reports/ { ferry_signed_download on; alias %%DIR%%/reports/; }
EOF
my $x = Ferry::Export->new($t, 'bulk@example.com');
my %auth = %{ $x->auth };

my $zip = $t->dir . '/e.zip';    # where ingest writes it
$x->ingest(seed => 7, users => 12, days => 3, messages_per_day => 4, file_bytes => 'in_zip',
           emoji_base => $slack->url, wait => 60);

sub export { $x->export(@_) }
sub finished { $x->finished($_[0]) }

# The archive behind a link: import.jsonl's lines and the other members.
sub archive {
    my ($url) = @_;
    my $file = $t->dir . '/archive.zip';
    my ($rc) = $t->run_cmd(['curl', '-sf', '-o', $file, $url]);
    return unless $rc == 0;
    my $z = IO::Uncompress::Unzip->new($file) or die "unzip: $UnzipError";
    my (%members, @lines);
    for (my $st = 1; $st > 0; $st = $z->nextStream) {
        my $name = $z->getHeaderInfo->{Name};
        local $/;
        $members{$name} = <$z> // '';
    }
    my $json = JSON::PP->new->utf8;
    @lines = map { $json->decode($_) } split /\n/, delete $members{'import.jsonl'} // '';
    return (\@lines, \%members);
}

is(export(team => 'migrated', mode => 'nope')->{status}, 422, 'an unknown mode: 422');
my $r503 = export(team => 'migrated', mode => 'api');
is($r503->{status}, 503, 'without MM_URL the api mode is refused at once: 503');
like($r503->{json}{error} // '', qr/MM_URL/, '... saying why');

# ---- a bad team: the job fails with the reason, nothing reaches Mattermost
$t->stop_ferryd;
$t->start_ferryd(%set, MM_URL => $mm->url, MM_TOKEN => $mm->admin_token);
my $j = finished(export(team => 'no-such-team')->{json}{id});
is($j->{status}, 'failed', 'an unknown team: failed');
like($j->{error}, qr/no-such-team.*no such team/, 'saying why');
is(scalar $mm->journal(method => 'POST'), 0, 'nothing sent to Mattermost');
is(scalar(() = glob("$reports/*")), 0, 'no archive written');

# ---- without MM_URL: the archive only
$t->stop_ferryd;
$t->start_ferryd(%set);
my $bad = export(team => 'Not A Team!');
is($bad->{status}, 422, 'without MM_URL, a name Mattermost would refuse: 422 at once');
like($bad->{content}, qr/Mattermost team name/, 'saying why');

my $r = export(team => 'migrated');
is($r->{status}, 202, 'POST /export in bulk mode (MM_API_MODE): 202');
$j = finished($r->{json}{id});
is($j->{status}, 'done', 'the archive-only export: done') or diag explain $j;
like($j->{archive}{url}, qr{^http://127\.0\.0\.1:$port/reports/$j->{id}-bulk\.zip\?expires=\d+&sig=[0-9a-f]{64}$},
     'GET /export/{id} shows a signed link to the archive');
ok($j->{archive}{expires_at}, 'with its expiry');
is($t->psql("SELECT count(*) FROM entities WHERE status <> 'pending'"), 0, 'the rows stay pending');
is(scalar $mm->posts, 0, 'Mattermost untouched');
my ($lines, $members) = archive($j->{archive}{url});
ok($lines && @$lines, 'the link downloads the archive');

# ---- the archive's content, against the rows
is_deeply($lines->[0], { type => 'version', version => 1 }, 'the version line first');
my %order = (version => 0, emoji => 1, channel => 2, user => 3, direct_channel => 4, post => 5, direct_post => 6);
my @types = map { $order{ $_->{type} } // 99 } @$lines;
is_deeply(\@types, [sort { $a <=> $b } @types], 'lines in the order Mattermost wants them');
sub of { my $ty = shift; map { $_->{$ty} } grep { $_->{type} eq $ty } @$lines }

my $nusers = $t->psql("SELECT count(*) FROM entities WHERE entity_type = 'user'");
my @users = of('user');
ok(@users >= $nusers - 2 && @users <= $nusers, "a user line per Slack user (" . scalar(@users) . " of $nusers)");
my ($u0) = grep { @{ $_->{teams}[0]{channels} } } @users;
is($u0->{teams}[0]{name}, 'migrated', 'users join the team');
ok($u0, 'and their channels');
my %user_of = map { split /\|/ } split /\n/, $t->psql(
    "SELECT slack_id || '|' || lower(raw_data->>'name') FROM entities WHERE entity_type = 'user'");

my @posts = (of('post'), of('direct_post'));
my @replies = map { @{ $_->{replies} || [] } } @posts;
ok(scalar(@replies) > 0, 'threads: replies nested under their roots (' . scalar(@replies) . ')');
my $in_db = $t->psql("SELECT count(*) FROM entities r JOIN entities t ON t.entity_type = 'message' "
                   . "AND t.slack_id = (r.raw_data->>'channel_id') || ':' || (r.raw_data->>'thread_ts') "
                   . "WHERE r.entity_type = 'message' AND r.raw_data->>'thread_ts' <> r.raw_data->>'ts'");
# what does not fit one post continues in replies a millisecond later
my @long = grep { length($_->{message}) == 16383 } @posts, @replies;
ok(@long, 'a message past 16383 characters is cut there...');
my @cont = grep { my $p = $_; grep { $_->{create_at} == $p->{create_at} + 1 } @{ $p->{replies} || [] } } @long;
ok(@cont, '... and the rest follows in a reply');
cmp_ok(scalar(@replies) - scalar(@cont), '<=', $in_db, "no more replies than the rows have ($in_db)");

# one message checked field by field: a root with replies
my $root = $t->psql("SELECT m.raw_data->>'ts' || '|' || (m.raw_data->>'user') || '|' || count(*) "
                  . "FROM entities m JOIN entity_relations x ON x.to_entity_id = m.id AND x.relation_type = 'thread_reply' "
                  . "JOIN entities c ON c.slack_id = m.raw_data->>'channel_id' AND c.raw_data->>'channel_kind' = 'public' "
                  . "WHERE m.raw_data->>'user' LIKE 'U%' GROUP BY m.id ORDER BY count(*) DESC, m.id LIMIT 1");
my ($ts, $author, $nrep) = split /\|/, $root;
my ($sec, $frac) = split /\./, $ts;
my $ms = $sec * 1000 + int(substr(($frac // '') . '000', 0, 3));
my ($p) = grep { $_->{create_at} == $ms } of('post');
ok($p, "the root posted at $ts is there, create_at $ms (Slack's ts in ms)");
is($p->{user}, $user_of{$author}, "by its author ($user_of{$author})") if $p;
is(scalar @{ $p->{replies} || [] }, $nrep, "with its $nrep replies") if $p;
ok(!grep({ $_->{create_at} < $p->{create_at} } @{ $p->{replies} || [] }), 'replies after their root') if $p;

my @reactions = map { @{ $_->{reactions} || [] } } @posts, @replies;
ok(@reactions, 'reactions (' . scalar(@reactions) . ')');
ok(!grep({ $_->{emoji_name} =~ /::/ } @reactions), 'skin tones stripped from emoji names');
my %usernames = map { $_->{username} => 1 } @users;
ok(!grep({ !$usernames{ $_->{user} } } @reactions, @posts, @replies), 'every author and reactor is a user of the archive');

my @files = map { @{ $_->{attachments} || [] } } @posts, @replies;
ok(@files, 'attachments (' . scalar(@files) . ')');
ok(!grep({ !exists $members->{"data/$_->{path}"} } @files), 'every attachment is in the zip under data/');
ok(!grep({ @{ $_->{attachments} || [] } > 5 } @posts, @replies), 'at most 5 files a post');
my $zmember = $t->psql("SELECT raw_data->>'zip_member' || '|' || (raw_data->>'id') FROM entities "
                     . "WHERE entity_type = 'attachment' AND raw_data ? 'zip_member' ORDER BY id LIMIT 1");
my ($zm, $fid) = split /\|/, $zmember;
my ($inzip) = grep { m{^data/files/\Q$fid\E/} } keys %$members;
ok($inzip, "the file $fid is in the archive");
{
    my $z = IO::Uncompress::Unzip->new($zip, Name => $zm);
    local $/;
    my $orig = <$z>;
    is(length($members->{$inzip} // ''), length($orig // 'x'), '... with the bytes of the Slack upload') if $inzip;
}

my @dms = of('direct_channel');
ok(@dms, 'DMs and group DMs as direct_channel lines (' . scalar(@dms) . ')');
ok(!grep({ @{ $_->{members} } < 2 || @{ $_->{members} } > 8 } @dms), '2 to 8 members each');
ok(scalar(of('direct_post')), 'their messages as direct_post lines');

my @emoji = of('emoji');
ok(@emoji, 'custom emoji (' . scalar(@emoji) . ')');
ok(!grep({ ($members->{"data/$_->{image}"} // '') ne $gif } @emoji), 'their images downloaded into the zip');
my @asked = $slack->journal(method => 'GET');
ok(@asked && !grep({ ($_->{headers}{authorization} // $_->{headers}{Authorization} // '') ne 'Bearer xoxb-bulk-test' } @asked),
   'downloaded from Slack with SLACK_TOKEN');
like($t->psql("SELECT string_agg(f.error_message, ';') FROM export_findings f JOIN entities e ON e.id = f.entity_id "
            . "WHERE f.job_id = '$j->{id}' AND e.entity_type = 'custom_emoji' AND e.raw_data->>'url' LIKE 'alias:%'"),
     qr/alias/, 'an alias emoji left out, with a finding saying why');

ok(!grep({ $_->{message} =~ /<\@U[A-Z0-9]+/ } @posts, @replies), 'no Slack mention markup left')
    or diag explain [ map { $_->{message} } grep { $_->{message} =~ /<\@U[A-Z0-9]+/ } @posts, @replies ];
ok(scalar(grep { $_->{message} =~ /(?:^|\s)\@[a-z][a-z0-9._-]*/ } @posts, @replies), 'mentions are @username');

# ---- with MM_URL: uploaded, imported, the job's outcome is the export's
$t->stop_ferryd;
$t->start_ferryd(%set, MM_URL => $mm->url, MM_TOKEN => $mm->admin_token);
$r = export(team => 'migrated', mode => 'bulk');
$j = finished($r->{json}{id});
is($j->{status}, 'done', 'uploaded and imported: done') or diag explain $j;
my ($mmjob) = $mm->jobs(type => 'import_process');
is($mmjob->{status}, 'success', "Mattermost's import_process job succeeded")
    or diag explain $mmjob;
my @mm_posts = $mm->posts;
is(scalar(@mm_posts), scalar(@posts) + scalar(@replies), 'Mattermost has every post and reply of the archive');
my ($mp) = grep { $_->{create_at} == $ms && $_->{root_id} eq '' } @mm_posts;
ok($mp, 'the root kept its create_at in Mattermost');
is(scalar(grep { $mp && $_->{root_id} eq $mp->{id} } @mm_posts), $nrep, 'and its replies under it') if $mp;
ok(scalar(grep { @{ $_->{file_ids} || [] } } @mm_posts), 'posts with their files');
ok(scalar($mm->reactions), 'reactions');
ok(scalar(grep { $_->{type} eq 'D' } $mm->channels), 'direct channels');
is($t->psql("SELECT count(*) FROM entities WHERE status = 'pending' AND NOT coalesce((raw_data->>'deleted')::boolean, false) "
          . "AND NOT coalesce((raw_data->>'removed')::boolean, false)"), 0, 'the rows are no longer pending');
is($t->psql("SELECT count(*) FROM entities WHERE status = 'success' AND mattermost_id IS NOT NULL"), 0,
   'success without a mattermost_id (the import gives none)');
ok($t->psql("SELECT count(*) FROM entities WHERE status = 'skipped'") > 0, 'what could not go in is skipped, with why');

# a re-run creates nothing new
my $before = scalar @mm_posts;
$j = finished(export(team => 'migrated')->{json}{id});
is($j->{status}, 'done', 'a re-run: done');
is(scalar($mm->posts), $before, 'no post twice');

# Mattermost refusing the archive: the export fails with its reason
$mm->fault(method => 'POST', path => '/api/v4/jobs', status => 403, times => 1,
           body => { id => 'api.context.permissions.app_error', message => 'You do not have the appropriate permissions.', status_code => 403 });
$j = finished(export(team => 'migrated')->{json}{id});
is($j->{status}, 'failed', "Mattermost's refusal: failed");
like($j->{error}, qr/permissions/, "with Mattermost's reason");

$t->done;
