#!/usr/bin/perl
# Ferry::SlackExport, the synthetic Slack export the Slack import is tested and measured with:
# the zip is valid, the same for a seed, what write() says it holds is what a plain reader finds
# there (unzip, JSON::PP and a central-directory reader of our own, not the generator's), day
# files are not in time order, and each bad export is bad the way it claims. Needs unzip only.

use strict;
use warnings;
use Test::More;
use Compress::Raw::Zlib qw(Z_OK Z_STREAM_END MAX_WBITS);
use Digest::SHA qw(sha256_hex);
use Encode ();
use JSON::PP;
use POSIX qw(strftime);
use lib 't/lib';
use Ferry::Test;
use Ferry::SlackExport;

plan skip_all => 'unzip is missing (Debian package unzip)' unless system('unzip -v >/dev/null 2>&1') == 0;

my $t = Ferry::Test->new;
my $dir = $t->dir;
my $J = JSON::PP->new->utf8;

# ------------------------------------------------------------------ readers

# The entries of a zip from its end-of-central-directory record and central directory.
sub central {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!";
    local $/;
    my $zip = <$fh>;
    my $eocd = rindex($zip, "PK\x05\x06");
    die "$path: no end of central directory" if $eocd < 0;
    my ($n, $size, $off) = unpack('x10 v V V', substr($zip, $eocd, 22));
    my @e;
    my $p = $off;
    for (1 .. $n) {
        my ($sig, $flags, $method, $crc, $csize, $usize, $nl, $xl, $cl, $lfh)
            = unpack('V x4 v v x4 V V V v v v x8 V', substr($zip, $p, 46));
        die "$path: bad central header at $p" unless $sig == 0x02014b50;
        my ($lsig, $lcsize, $lusize, $lnl, $lxl) = unpack('V x14 V V v v', substr($zip, $lfh, 30));
        die "$path: bad local header at $lfh" unless $lsig == 0x04034b50;
        push @e, { name => substr($zip, $p + 46, $nl), flags => $flags, method => $method,
                   csize => $csize, usize => $usize, local_usize => $lusize,
                   data => $lfh + 30 + $lnl + $lxl };
        $p += 46 + $nl + $xl + $cl;
    }
    return @e;
}

# Inflates a member's data and counts the bytes that come out, whatever the headers say;
# returns (count, first byte, last byte).
sub inflate_count {
    my ($path, $e) = @_;
    open my $fh, '<:raw', $path or die "$path: $!";
    seek $fh, $e->{data}, 0;
    my ($inf, $st) = Compress::Raw::Zlib::Inflate->new(-WindowBits => -MAX_WBITS, -Bufsize => 1 << 20);
    die "inflate: $st" unless $st == Z_OK;
    my ($n, $first, $last, $left) = (0, undef, undef, $e->{csize});
    while ($left > 0) {
        read($fh, my $in, $left < 65536 ? $left : 65536) or last;
        $left -= length $in;
        while (length $in) {
            my $out;
            $st = $inf->inflate($in, $out);
            $n += length $out;
            $first //= substr($out, 0, 1) if length $out;
            $last = substr($out, -1) if length $out;
            last if $st == Z_STREAM_END;
            die "inflate: $st" unless $st == Z_OK;
        }
        last if $st == Z_STREAM_END;
    }
    return ($n, $first, $last);
}

sub listing { my ($zip) = @_; my @n = split /\n/, `unzip -Z1 '$zip'`; return @n }
sub unzip_ok { system("unzip -tqq '$_[0]' >/dev/null 2>&1") == 0 }

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

sub sha { sha256_hex(slurp($_[0])) }

my $reads = 0;

# Everything in an export, read back the way the seed's importer did: channels from the four
# files, folders matched to a channel by id and then by name, every element with a ts a message.
sub read_export {
    my ($zip) = @_;
    my $out = "$dir/x-" . ++$reads;
    system('unzip', '-qq', '-o', $zip, '-d', $out) == 0 or die "unzip $zip failed";
    my %r = (names => [listing($zip)]);
    my $json = sub { $J->decode(slurp("$out/$_[0]")) };
    $r{users} = $json->('users.json');
    $r{raw}{$_} = slurp("$out/$_") for grep { !m{/$} } @{ $r{names} };
    for my $file (qw(channels groups dms mpims)) {
        for my $c (@{ $json->("$file.json") }) {
            $c->{file} = $file;
            push @{ $r{channels} }, $c;
        }
    }
    $r{emoji} = -e "$out/emoji.json" ? $json->('emoji.json') : {};
    my (%by_id, %by_name);
    for my $c (@{ $r{channels} }) {
        $by_id{ $c->{id} } = $c;
        $by_name{ $c->{name} } = $c if defined $c->{name};
    }
    for my $name (@{ $r{names} }) {
        next unless $name =~ m{^([^/]+)/(\d{4}-\d\d-\d\d)\.json$};
        my ($folder, $date) = ($1, $2);
        my $fd = Encode::decode('UTF-8', $folder);
        my $c = $by_id{$fd} || $by_name{$fd};
        unless ($c) { push @{ $r{unmatched} }, $name; next }
        push @{ $r{days}{ $c->{id} } }, $date;
        my $els = $J->decode($r{raw}{$name});
        my $prev = '';
        for my $m (@$els) {
            next unless defined $m->{ts};
            push @{ $r{bad_date} }, "$name $m->{ts}" if strftime('%Y-%m-%d', gmtime $m->{ts}) ne $date;
            push @{ $r{unordered} }, "$name $m->{ts}" if $m->{ts} le $prev;
            $prev = $m->{ts};
            push @{ $r{messages} }, { %$m, _channel => $c->{id}, _member => $name };
        }
    }
    return \%r;
}

# The facts write() returns, recomputed from what read_export found.
sub recount {
    my ($r) = @_;
    my @m = @{ $r->{messages} || [] };
    my (%c, %per, %sub, %has, @replies, %ts_ch, %fid, %bots);
    $c{user} = @{ $r->{users} };
    $c{channel} = @{ $r->{channels} };
    $c{message} = @m;
    $c{custom_emoji} = keys %{ $r->{emoji} };
    $c{reaction} = 0;
    for (@m) {
        $per{ $_->{_channel} }++;
        $sub{ $_->{subtype} // '' }++;
        $has{"$_->{_channel} $_->{ts}"} = 1;
        $ts_ch{ $_->{ts} }{ $_->{_channel} } = 1;
        $c{reaction} += @{ $_->{users} } for @{ $_->{reactions} || [] };
        $fid{ $_->{id} } = 1 for @{ $_->{files} || [] };
        $bots{ $_->{bot_id} } = 1 if $_->{bot_id} && !$_->{user};
    }
    $c{attachment} = keys %fid;
    for (@m) {
        push @replies, [$_->{ts}, $_->{thread_ts}, $_->{_channel}]
            if $_->{thread_ts} && $_->{thread_ts} ne $_->{ts} && $has{"$_->{_channel} $_->{thread_ts}"};
    }
    my %uid = map { $_->{id} => 1 } @{ $r->{users} };
    return { counts => \%c, by_channel => \%per, by_subtype => \%sub,
             replies => [sort { $a->[2] cmp $b->[2] || $a->[0] cmp $b->[0] } @replies],
             collisions => [grep { keys %{ $ts_ch{$_} } > 1 } sort keys %ts_ch],
             placeholder_bot_ids => [sort keys %bots],
             uslackbot => scalar(grep { ($_->{user} // '') eq 'USLACKBOT' } @m),
             unknown_users => [grep { !$uid{$_} } map { $_->{user} // () } @m] };
}

sub same_facts {
    my ($r, $e, $what) = @_;
    my $got = recount($r);
    is_deeply($got->{counts}, $e->{counts}, "$what: counts per entity type");
    is_deeply($got->{by_channel}, $e->{messages}{by_channel}, "$what: messages per channel");
    is_deeply($got->{by_subtype}, $e->{messages}{by_subtype}, "$what: messages per subtype");
    is_deeply($got->{replies}, [sort { $a->[2] cmp $b->[2] || $a->[0] cmp $b->[0] } @{ $e->{replies} }],
              "$what: thread replies");
    is_deeply($got->{collisions}, $e->{collision} ? [$e->{collision}{ts}] : [], "$what: the shared ts");
    is_deeply($got->{placeholder_bot_ids}, $e->{placeholder_bot_ids}, "$what: bot ids without a user");
    is($got->{uslackbot}, $e->{uslackbot_messages}, "$what: USLACKBOT messages");
    return $got;
}

# ------------------------------------------------------------------ a full export

my %opt = (seed => 7, users => 40, public => 6, private => 3, dms => 4, mpims => 3, days => 12,
           messages_per_day => 15, file_bytes => 'in_zip');
my $zip = "$dir/export.zip";
my $x = Ferry::SlackExport->new(%opt);
my $expect = $x->write($zip);

ok(unzip_ok($zip), 'unzip -t finds the export valid');
is(-s $zip, $expect->{size}, 'write() reports the size of the zip');

Ferry::SlackExport->new(%opt)->write("$dir/again.zip");
is(sha("$dir/again.zip"), sha($zip), 'the same seed gives the same bytes');
Ferry::SlackExport->new(%opt, seed => 8)->write("$dir/other.zip");
isnt(sha("$dir/other.zip"), sha($zip), 'another seed gives another export');

my $r = read_export($zip);
my @names = @{ $r->{names} };
is_deeply(\@names, $expect->{members}, 'the members, in the order write() reports');
is(scalar @names, $expect->{member_count}, 'member_count');
my @cd = central($zip);
is_deeply([map { $_->{name} } @cd], \@names, 'our central-directory reader agrees with unzip');
ok((grep { $_->{name} =~ /[^\x00-\x7f]/ } @cd) > 0, 'some member names are not ASCII');
ok(!(grep { $_->{name} =~ /[^\x00-\x7f]/ && !($_->{flags} & 0x800) } @cd),
   'every non-ASCII name has the UTF-8 flag');
ok((grep { $_ eq 'general/' } @names), 'folders have directory entries');

same_facts($r, $expect, 'export');

# users
my $users = $r->{users};
my $c = $expect->{counts};
is(scalar @$users, $c->{user}, 'users.json: count');
ok($c->{user} > $opt{users}, 'users.json has the humans and the app bot');
is(scalar(grep { $_->{is_bot} } @$users), $expect->{users}{bots}, 'bot users');
ok($expect->{users}{bots} > 0, 'there is a bot user');
is(scalar(grep { $_->{deleted} } @$users), $expect->{users}{deleted}, 'deleted users');
ok($expect->{users}{deleted} > 0, 'some users are deleted');
ok((grep { $_->{real_name} =~ /\p{Cyrillic}/ } @$users) && (grep { $_->{real_name} =~ /\p{Han}|\p{Hangul}/ } @$users),
   'real names in Cyrillic and CJK');
ok(!(grep { !$_->{is_bot} && $_->{profile}{email} !~ /\@(guest\.)?example\.(com|org)$/ } @$users),
   'every email is at example.com or example.org');
my %uid = map { $_->{id} => $_ } @$users;
is(scalar keys %uid, scalar @$users, 'user ids are unique');
ok(!$uid{USLACKBOT}, 'USLACKBOT is not in users.json (slackbot_in_users => 0)');

# channels
my @ch = @{ $r->{channels} };
is(scalar @ch, $c->{channel}, 'channels: the four files together');
my %kind = (channels => 'public', groups => 'private', dms => 'dm', mpims => 'mpim');
for my $file (sort keys %kind) {
    is(scalar(grep { $_->{file} eq $file } @ch), $expect->{channels}{ $kind{$file} }, "$file.json: count");
}
is(scalar(grep { $_->{file} eq 'channels' } @ch), $opt{public}, 'public channels as asked');
is_deeply([sort map { $_->{id} } grep { $_->{is_archived} } @ch], [sort @{ $expect->{channels}{archived} }],
          'the archived channel');
ok(@{ $expect->{channels}{archived} } == 1, 'one channel is archived');
is_deeply([map { $_->{id} } grep { $_->{is_general} } @ch], [$expect->{channels}{general}], 'the general channel');
my @groups = grep { $_->{file} eq 'groups' } @ch;
is_deeply([map { $_->{id} } grep { $_->{id} =~ /^G/ } @groups], $expect->{channels}{legacy_private},
          'groups.json: one legacy G id');
ok(@{ $expect->{channels}{legacy_private} } == 1, 'there is a legacy private channel');
ok(!(grep { $_->{id} =~ /^C/ && !$_->{is_private} } @groups), 'groups.json: C ids carry is_private');
ok((grep { $_->{id} =~ /^C/ } @groups) > 0, 'groups.json has modern C ids');
ok(!(grep { @{ $_->{members} } != 2 } grep { $_->{file} eq 'dms' } @ch), 'every DM has two members');
ok((grep { grep { $_ eq 'USLACKBOT' } @{ $_->{members} } } grep { $_->{file} eq 'dms' } @ch),
   'a DM with Slackbot');
ok(!(grep { $_->{name} !~ /^mpdm-.+--.+-1$/ || @{ $_->{members} } < 3 } grep { $_->{file} eq 'mpims' } @ch),
   'mpims are named mpdm-a--b--c-1 and have three members or more');
ok((grep { @{ $_->{members} } > 8 } grep { $_->{file} eq 'mpims' } @ch), 'one mpim has more than 8 members');
my ($cyr) = grep { ($_->{name} // '') =~ /\p{Cyrillic}/ } @ch;
ok($cyr, 'a channel with a Cyrillic name');
is_deeply([$cyr->{id}], $expect->{channels}{non_latin}, 'the non-Latin channel write() reports');
ok($r->{days}{ $cyr->{id} }, 'its folder (UTF-8 name) is found by name');
ok(length($ch[1]{purpose}{value}) > 250, 'a purpose longer than Mattermost allows');

# messages
my @msgs = @{ $r->{messages} };
is(scalar @msgs, $c->{message}, 'messages: every element with a ts in a matched folder');
my %per;
$per{ $_->{_channel} }++ for @msgs;
is_deeply(\%per, $expect->{messages}{by_channel}, 'messages per channel');
my %sub;
$sub{ $_->{subtype} // '' }++ for @msgs;
is_deeply(\%sub, $expect->{messages}{by_subtype}, 'messages per subtype');
for my $s (qw(channel_join channel_leave channel_purpose bot_message file_share message_changed
              message_deleted thread_broadcast tombstone)) {
    ok($sub{$s}, "there are $s messages");
}
ok(!$r->{bad_date}, 'every element lies in the day its file is named after') or diag explain $r->{bad_date};
ok(!$r->{unordered}, 'elements of a day file are in ts order') or diag explain $r->{unordered};
my %seen_ts;
my @dup = grep { $seen_ts{"$_->{_channel} $_->{ts}"}++ } @msgs;
ok(!@dup, 'ts values are unique inside a channel');
my %ts_ch;
$ts_ch{ $_->{ts} }{ $_->{_channel} } = 1 for @msgs;
my @coll = grep { keys %{ $ts_ch{$_} } > 1 } sort keys %ts_ch;
is_deeply(\@coll, [$expect->{collision}{ts}], 'exactly one ts is in two channels: the one reported');
is_deeply([sort keys %{ $ts_ch{ $expect->{collision}{ts} } }], [sort @{ $expect->{collision}{channels} }],
          'and in the two channels reported');

# users behind the messages
my %bot_nouser = map { $_->{bot_id} => 1 } grep { $_->{bot_id} && !$_->{user} } @msgs;
is_deeply([sort keys %bot_nouser], $expect->{placeholder_bot_ids}, 'bot ids of messages without a user');
ok(@{ $expect->{placeholder_bot_ids} } > 0, 'some bot messages have no user');
my %bots = map { $_->{bot_id} => 1 } grep { $_->{bot_id} } @msgs;
is_deeply([sort keys %bots], $expect->{bot_ids}, 'bot ids');
is(scalar(grep { ($_->{user} // '') eq 'USLACKBOT' } @msgs), $expect->{uslackbot_messages}, 'messages from USLACKBOT');
ok($expect->{uslackbot_messages} > 0, 'USLACKBOT writes');
is($expect->{placeholder_users}, @{ $expect->{placeholder_bot_ids} } + 1, 'placeholder users: the bot ids and USLACKBOT');
ok(!(grep { $_->{user} && $_->{user} ne 'USLACKBOT' && !$uid{ $_->{user} } } @msgs), 'every other user is in users.json');
ok((grep { ($_->{text} // '') =~ /<\@U[0-9A-Z]+>/ } @msgs), 'mentions <@U...>');
ok((grep { ($_->{text} // '') =~ /<#C[0-9A-Z]+\|\p{Cyrillic}+>/ } @msgs), 'a channel link to the Cyrillic channel');
ok((grep { ($_->{text} // '') =~ /<!here>/ } @msgs), '<!here>');
ok((grep { ($_->{text} // '') =~ m{<https?://[^|>]+\|[^>]+>} } @msgs), 'links <url|label>');
ok((grep { ($_->{text} // '') =~ /\p{Cyrillic}/ } @msgs) && (grep { ($_->{text} // '') =~ /\p{Han}/ } @msgs)
   && (grep { ($_->{text} // '') =~ /[\x{1F300}-\x{1FAFF}]/ } @msgs), 'texts in Cyrillic, CJK and emoji');
ok((grep { length($_->{text} // '') > 16383 } @msgs), 'a message over 16383 characters');
ok((grep { $_->{blocks} && $_->{blocks}[0]{type} eq 'rich_text' } @msgs), 'rich_text blocks');
is(scalar(grep { $_->{edited} } @msgs), $expect->{edits}{edited}, 'edited messages');
ok($expect->{edits}{edited} > 0, 'some messages are edited');
ok(!(grep { !$_->{edited}{user} || !$_->{edited}{ts} } grep { $_->{edited} } @msgs), 'edited has user and ts');
my ($chg) = grep { ($_->{subtype} // '') eq 'message_changed' } @msgs;
ok($chg->{message}{edited} && $chg->{previous_message}{ts} eq $chg->{message}{ts}, 'message_changed holds both versions');

# threads
my %has = map { ("$_->{_channel} $_->{ts}" => $_) } @msgs;
my (@replies, @orphans, $roots);
for my $m (@msgs) {
    next unless $m->{thread_ts};
    if ($m->{thread_ts} eq $m->{ts}) { $roots++; next }
    if ($has{"$m->{_channel} $m->{thread_ts}"}) { push @replies, [$m->{ts}, $m->{thread_ts}, $m->{_channel}] }
    else { push @orphans, { ts => $m->{ts}, thread_ts => $m->{thread_ts}, channel => $m->{_channel} } }
}
my $by = sub { $a->[2] cmp $b->[2] || $a->[0] cmp $b->[0] };
is_deeply([sort $by @replies], [sort $by @{ $expect->{replies} }], 'thread replies: reply ts, root ts, channel');
is(scalar @replies, $expect->{threads}{replies}, 'thread replies: count');
is($roots, $expect->{threads}{roots}, 'thread roots');
ok(@replies > 10, 'there are threads');
is_deeply(\@orphans, $expect->{orphan_replies}, 'the reply whose root is not in the export');
ok(@orphans == 1, 'one orphan reply');
my $bad_root = 0;
for my $root (grep { $_->{thread_ts} && $_->{thread_ts} eq $_->{ts} } @msgs) {
    my @mine = grep { $_->[1] eq $root->{ts} && $_->[2] eq $root->{_channel} } @replies;
    $bad_root++ if $root->{reply_count} != @mine
        || join(',', sort map { $_->{ts} } @{ $root->{replies} }) ne join(',', sort map { $_->[0] } @mine);
}
is($bad_root, 0, 'every root lists its replies (reply_count, replies)');
ok(@{ $expect->{cross_day_replies} } > 0, 'threads that cross midnight');
my %pos = map { $names[$_] => $_ } 0 .. $#names;
for my $x (@{ $expect->{cross_day_replies} }) {
    my ($reply) = grep { $_->{ts} eq $x->{ts} && $_->{_channel} eq $x->{channel} } @msgs;
    my ($root) = grep { $_->{ts} eq $x->{root_ts} && $_->{_channel} eq $x->{channel} } @msgs;
    ok($reply && $root && $reply->{_member} eq $x->{reply_member} && $root->{_member} eq $x->{root_member}
       && $x->{reply_member} ne $x->{root_member} && $reply->{thread_ts} eq $root->{ts},
       "cross-day thread in $x->{channel}: root and reply in the files reported");
}
my @early = grep { $pos{ $_->{reply_member} } < $pos{ $_->{root_member} } } @{ $expect->{cross_day_replies} };
is_deeply(\@early, $expect->{reply_before_root}, 'replies whose file comes before their root\'s');
ok(@early > 0, 'a reply arrives before its root');

# member order
my @late;
for my $id (sort keys %{ $r->{days} }) {
    my @d = @{ $r->{days}{$id} };
    push @late, $id if join(',', @d) ne join(',', sort @d);
}
is_deeply([sort @late], [sort @{ $expect->{out_of_order_channels} }], 'channels whose days are out of order');
ok(@late > 0, 'day files are not in time order');
is(scalar(map { @$_ } values %{ $r->{days} }), $expect->{day_files}, 'day files');
is_deeply([sort @{ $r->{unmatched} // [] }, grep { !m{/} } @names],
          [sort @{ $expect->{skipped_members} }, qw(channels.json dms.json emoji.json groups.json mpims.json users.json)],
          'integration_logs.json, canvases.json and a folder of no channel are there to be skipped');

# reactions
my ($nreact, %rname, $bad_count) = (0);
for my $m (@msgs) {
    for my $x (@{ $m->{reactions} || [] }) {
        $nreact += @{ $x->{users} };
        $rname{ $x->{name} } += @{ $x->{users} };
        $bad_count++ if $x->{count} != @{ $x->{users} };
    }
}
is($nreact, $c->{reaction}, 'reactions: one per (message, emoji, user)');
is_deeply(\%rname, $expect->{reactions}{by_name}, 'reactions per name');
ok(!$bad_count, 'count is the number of users');
ok($rname{'+1'} && $rname{'thumbsup::skin-tone-2'}, '+1 and a skin-tone variant');
ok(!(grep { !$rname{$_} } keys %{ $r->{emoji} }), 'every custom emoji is used as a reaction');
my @coll_msgs = grep { $_->{ts} eq $expect->{collision}{ts} } @msgs;
ok(!(grep { !$_->{reactions} } @coll_msgs), 'both messages with the shared ts have reactions');

# emoji
is(scalar keys %{ $r->{emoji} }, $c->{custom_emoji}, 'emoji.json: custom emoji');
ok($c->{custom_emoji} >= 3, 'there are custom emoji');
my %alias = map { $r->{emoji}{$_} =~ /^alias:(.+)/ ? ($_ => $1) : () } keys %{ $r->{emoji} };
is_deeply(\%alias, $expect->{emoji}{aliases}, 'emoji.json: the alias');
ok(keys %alias == 1 && $r->{emoji}{ (values %alias)[0] } =~ m{^https://}, 'the alias points at an emoji with a URL');
my %in_text;
for my $m (@msgs) {
    $in_text{$1} = 1 while ($m->{text} // '') =~ /:([^:\s]+):/g && exists $r->{emoji}{$1};
}
is_deeply([sort keys %in_text], $expect->{emoji}{used_in_text}, 'custom emoji used in texts');

# files
my (%fid, $refs);
for my $m (@msgs) {
    for my $f (@{ $m->{files} || [] }) {
        $refs++;
        $fid{ $f->{id} } //= $f;
    }
}
is(scalar keys %fid, $c->{attachment}, 'attachments: one per file id');
is($refs, $expect->{file_refs}, 'file references');
ok($refs > keys %fid, 'a file is shared twice');
is(scalar(grep { $_->{url_private} =~ m{^https://files\.slack\.com/} } values %fid), $expect->{files_slack_hosted},
   'files hosted by Slack');
ok((grep { $_->{is_external} } values %fid), 'an external (Google Drive) file');
my @up = grep { m{^__uploads/} } @names;
is_deeply(\@up, $expect->{uploads}, 'uploads in the zip');
is(scalar @up, $expect->{files_slack_hosted}, 'every hosted file has its bytes');
my $bad_up = 0;
for my $u (@up) {
    my (undef, $id, $name) = split m{/}, $u, 3;
    my $f = $fid{$id};
    $bad_up++, next unless $f && Encode::encode('UTF-8', $f->{name}) eq $name;
    $bad_up++ if length($r->{raw}{$u}) != $f->{size};
    $bad_up++ if $f->{mimetype} eq 'image/png' && $r->{raw}{$u} !~ /^\x89PNG\r\n\x1a\n/;
}
is($bad_up, 0, 'each upload is __uploads/<id>/<name> with the size the message gives');
ok((grep { /[^\x00-\x7f]/ } @up), 'an upload with a non-ASCII name');

# JSON as Slack writes it, and as it is
my @files = grep { m{\.json$} } @names;
ok((grep { $r->{raw}{$_} =~ /\\u04[0-9a-f]{2}/ && $r->{raw}{$_} =~ m{\\/} } @files), 'some files escape as Slack does');
ok((grep { $r->{raw}{$_} =~ /\xd0[\x80-\xbf]/ } @files), 'some files hold raw UTF-8');
ok(!(grep { $r->{raw}{$_} =~ /"(count|reply_count|size|reply_users_count|created)":"/ } @files),
   'numbers are JSON numbers');

# ------------------------------------------------------------------ order and placement options

my $sorted = Ferry::SlackExport->new(%opt, order => 'sorted', meta => 'last', files => 0)->write("$dir/sorted.zip");
ok(unzip_ok("$dir/sorted.zip"), 'sorted: valid');
my $rs = read_export("$dir/sorted.zip");
ok(!(grep { my @d = @{ $rs->{days}{$_} }; join(',', @d) ne join(',', sort @d) } keys %{ $rs->{days} }),
   'order => sorted: every channel\'s days in order');
is_deeply($sorted->{out_of_order_channels}, [], 'and write() says so');
my @sn = @{ $rs->{names} };
ok((grep { $sn[$_] eq 'users.json' } 0 .. $#sn)[0] > (grep { $sn[$_] =~ /\.json$/ && $sn[$_] =~ m{/} } 0 .. $#sn)[-1],
   'meta => last: users.json after every day file');
same_facts($rs, $sorted, 'sorted');

# another shape: few features, ASCII only, raw UTF-8, Slackbot listed in users.json
my $plain = Ferry::SlackExport->new(seed => 3, users => 12, public => 2, private => 1, dms => 3, mpims => 1,
                                    days => 4, messages_per_day => 5, non_latin => 0, json_style => 'raw',
                                    custom_emoji => 0, bots => 1, user_profile => 0, slackbot_in_users => 1,
                                    extras => 0, dir_entries => 0)->write("$dir/plain.zip");
ok(unzip_ok("$dir/plain.zip"), 'plain: valid');
my $rp = read_export("$dir/plain.zip");
my $gp = same_facts($rp, $plain, 'plain');
is_deeply($gp->{unknown_users}, [], 'plain: USLACKBOT is in users.json, so every author is');
is($plain->{placeholder_users}, 0, 'plain: no placeholder users needed');
ok(!(grep { /[^\x00-\x7f]/ } map { $rp->{raw}{$_} } keys %{ $rp->{raw} }), 'plain: every byte is ASCII');
ok(!(grep { m{/$} } @{ $rp->{names} }), 'plain: no directory entries');

# ------------------------------------------------------------------ bad exports

my $slip = Ferry::SlackExport::write_zip_slip("$dir/slip.zip");
my @sl = map { $_->{name} } central("$dir/slip.zip");
ok((grep { $_ eq '../evil.json' } @sl) && (grep { $_ eq '/etc/evil.json' } @sl), 'zip slip: ../ and / names are there');
is_deeply([grep { m{(^/|\.\./)} } @sl], $slip->{evil}, 'zip slip: the names write_zip_slip reports');
is_deeply([grep { m{(^/|\.\./)} } listing("$dir/slip.zip")], $slip->{evil}, 'zip slip: unzip lists them as stored');

for my $lie (0, 1) {
    my $what = $lie ? 'lying zip bomb' : 'zip bomb';
    my $b = Ferry::SlackExport::write_zip_bomb("$dir/bomb$lie.zip", bytes => 100 * 1024 * 1024, lie => $lie);
    my ($e) = grep { $_->{name} eq $b->{bomb}{member} } central("$dir/bomb$lie.zip");
    my ($n, $first, $last) = inflate_count("$dir/bomb$lie.zip", $e);
    is($n, 100 * 1024 * 1024, "$what: what it really inflates to");
    ok($n >= 100 * $e->{csize}, "$what: inflates to 100 times its compressed size or more")
        or diag "$n from $e->{csize}";
    ok($first eq '[' && $last eq ']', "$what: JSON whitespace in brackets");
    if ($lie) {
        ok($e->{usize} < 100_000 && $e->{local_usize} < 100_000, "$what: both headers claim a small size");
        is($e->{usize}, $b->{bomb}{header_size}, "$what: the size write_zip_bomb says it claimed");
    } else {
        is($e->{usize}, $n, "$what: its headers tell the truth");
    }
}

my $tr = Ferry::SlackExport::write_truncated("$dir/cut.zip");
ok(!unzip_ok("$dir/cut.zip"), 'truncated: unzip -t fails');
ok(-s "$dir/cut.zip" == $tr->{truncated}{to} && $tr->{truncated}{to} < $tr->{truncated}{from}, 'truncated: cut short');
ok(!eval { central("$dir/cut.zip"); 1 }, 'truncated: no central directory left');

my $bj = Ferry::SlackExport::write_invalid_json("$dir/badjson.zip");
ok(unzip_ok("$dir/badjson.zip"), 'invalid JSON: the zip itself is fine');
system('unzip', '-qq', '-o', "$dir/badjson.zip", '-d', "$dir/badjson") == 0 or die;
my @bad = grep { !eval { $J->decode(slurp("$dir/badjson/$_")); 1 } } grep { /\.json$/ } listing("$dir/badjson.zip");
is_deeply(\@bad, [$bj->{bad_json}{member}], 'invalid JSON: exactly the one day file fails to parse');

my $bu = Ferry::SlackExport::write_invalid_utf8("$dir/badutf8.zip");
ok(unzip_ok("$dir/badutf8.zip"), 'invalid UTF-8: the zip itself is fine');
system('unzip', '-qq', '-o', "$dir/badutf8.zip", '-d', "$dir/badutf8") == 0 or die;
my @notutf8 = grep { my $s = slurp("$dir/badutf8/$_"); !eval { Encode::decode('UTF-8', $s, Encode::FB_CROAK); 1 } }
              grep { /\.json$/ } listing("$dir/badutf8.zip");
is_deeply(\@notutf8, [$bu->{invalid_utf8}{member}], 'invalid UTF-8: exactly that file is not UTF-8');
my $raw = slurp("$dir/badutf8/$bu->{invalid_utf8}{member}");
ok(index($raw, "\xC3\x28") >= 0 && index($raw, "\xFF") >= 0 && index($raw, "\xC0\xAF") >= 0
   && index($raw, "\xED\xA0\x80") >= 0, 'invalid UTF-8: the bad bytes are there');
ok(index($raw, '\\ud800') >= 0 && index($raw, '\\u0000') >= 0, 'invalid UTF-8: a lone surrogate and \\u0000 too');
ok(index($raw, $_) >= 0, "invalid UTF-8: message $_ is there") for @{ $bu->{invalid_utf8}{ts} };

$t->done;
