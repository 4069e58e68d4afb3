package Ferry::SlackExport;

# A synthetic Slack workspace export (the ZIP that Slack's "Export data" produces), built from a
# seeded PRNG for the Slack import's tests and benchmarks: the same seed gives the same bytes,
# and nothing in it is real data. write() streams the ZIP member by member (a day file at a time)
# and returns the facts a test asserts on: counts per entity type, threads, the ts shared by two
# channels, files, member order. write_zip_slip, write_zip_bomb, write_truncated,
# write_invalid_json and write_invalid_utf8 write the bad exports an importer must refuse.
#
# The layout and fields follow, in our own words:
#  - Slack help, "How to read Slack data exports" (slack.com/help/articles/220556107):
#    channels.json, users.json, groups.json (private channels), dms.json, mpims.json,
#    integration_logs.json, canvases.json; a folder per public channel, private channel and DM,
#    one JSON file per day in it.
#  - docs.slack.dev/reference/events/message and the message subtypes (bot_message, channel_join,
#    channel_leave, channel_purpose, file_share, message_changed {message, previous_message},
#    message_deleted {deleted_ts}, thread_broadcast, tombstone); the @slack/types message events
#    (edited {user, ts}, reactions [{name, users, count}], files, blocks, thread fields).
#  - docs.slack.dev/reference/objects/file-object (id, name, title, mimetype, filetype, size, mode,
#    url_private, url_private_download, permalink, is_external, external_type).
#  - api.slack.com/events/emoji_changed and emoji.list: custom emoji name -> URL or "alias:<name>"
#    (Slack's export has no emoji file; emoji.json here holds what emoji.list would answer).
#  - mmetl (services/slack/parse.go) and slackdump's "mattermost" export type: file bytes under
#    __uploads/<file id>/<name>; DM folders named by the D... id, group DMs by their mpdm- name.
#  - ../shared/reference/slack-mm2-seed.md section 3: how the seed ingested such a zip (entity
#    keys, placeholder users for bot ids and USLACKBOT, folders matched by id then by name).
#  - slack-go/slack issue #18: Slack's JSON writes "/" as "\/". That exports also write non-ASCII as
#    \uXXXX (surrogate pairs for emoji) is our recollection, not checked against a real export, so
#    files here alternate between that style and raw UTF-8: the same values, both valid JSON.

use strict;
use warnings;
no warnings "portable";    # 64-bit constants: the PRNG needs a 64-bit perl
use utf8;

use Carp qw(croak);
use Compress::Zlib ();
use Digest::MD5 qw(md5 md5_hex);
use IO::Compress::Zip qw($ZipError ZIP_CM_STORE ZIP_CM_DEFLATE);
use POSIX ();

our %DEFAULTS = (
    seed             => 1,
    users            => 50,      # human users in users.json (the app's bot user comes on top)
    public           => 4,
    private          => 2,
    dms              => 3,
    mpims            => 2,
    days             => 30,      # day files per public/private channel (a third for DMs, mpims)
    messages_per_day => 20,      # mean; each channel has days * messages_per_day elements
    messages         => undef,   # instead: exactly this many elements over all channels
    years            => 3,
    start            => 1609459200,    # 2021-01-01T00:00:00Z, the first possible day
    threads          => 1,
    reactions        => 1,
    files            => 1,
    file_bytes       => 'url',   # 'url': only Slack URLs, as Slack exports; 'in_zip': __uploads/
    bots             => 2,       # bot 0 is an app with a bot user; the others post bot_message
    custom_emoji     => 5,
    non_latin        => 1,
    edits            => 1,
    orphans          => 1,       # a reply whose root is not in the export
    extras           => 1,       # integration_logs.json, canvases.json, a folder of no channel
    dir_entries      => 1,       # "general/" directory members
    slackbot_in_users => 0,      # real exports list USLACKBOT in users.json, we recall; off so
                                 # that the importer's placeholder path is exercised
    order            => 'shuffled',    # or 'sorted' (channels in file order, days ascending)
    meta             => 'first',       # or 'last': the top-level JSON files after the folders
    json_style       => 'mixed',       # 'slack' (\/ and \uXXXX), 'raw' (UTF-8), 'mixed'
    user_profile     => 1,       # user_profile {..} inside each user message, as Slack does
    level            => 6,       # deflate level
    zip64            => 0,
    facts            => 'full',  # 'counts' keeps no per-message lists (the large variant)
    files_base       => 'https://files.slack.com',
    avatars_base     => 'https://avatars.slack-edge.com',
    emoji_base       => 'https://emoji.slack-edge.com',
    workspace        => 'ferry-synth',
);

my $DAY = 86400;

# ------------------------------------------------------------------ the PRNG

# xorshift64 seeded from MD5 of the parts: only shifts and xors, which Perl does exactly on
# 64-bit unsigned integers (a multiply would spill into floating point).
sub _rng {
    my $x = unpack('Q<', md5(join ':', @_)) || 0x9E3779B97F4A7C15;
    return sub {
        $x ^= $x << 13;
        $x ^= $x >> 7;
        $x ^= $x << 17;
        return $x;
    };
}

sub _pick { int(($_[0]->() >> 11) * $_[1] / 9007199254740992) }    # 0 .. n-1
sub _chance { ($_[0]->() >> 11) < $_[1] * 9007199254740992 }

sub _shuffle {
    my ($r, $a) = @_;
    for (my $i = $#$a; $i > 0; $i--) {
        my $j = _pick($r, $i + 1);
        @$a[$i, $j] = @$a[$j, $i];
    }
    return $a;
}

# Slack-looking ids (a letter and ten of [0-9A-Z]) from a counter, unique per (prefix, salt):
# a 4-round Feistel network is a bijection on 52-bit numbers, and walking the cycle until the
# value is below 36^10 keeps it one on [0, 36^10).
sub _id {
    my ($prefix, $n, $salt) = @_;
    my $key = $salt + ord($prefix) * 7919;
    my $v = $n;
    do {
        my ($l, $r) = ($v >> 26, $v & 0x3FFFFFF);
        for my $i (1 .. 4) {
            my $k = (($key + $i * 40503) & 0x3FFFFFF) | 1;
            ($l, $r) = ($r, $l ^ ((($r * $k) ^ ($r >> 7) ^ $k) & 0x3FFFFFF));
        }
        $v = $l << 26 | $r;
    } while $v >= 3_656_158_440_062_976;
    my $s = '';
    for (1 .. 10) {
        $s = substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ', $v % 36, 1) . $s;
        $v = int($v / 36);
    }
    return $prefix . $s;
}

# ------------------------------------------------------------------ JSON

my %ESC = (map({ chr($_) => sprintf('\\u%04x', $_) } 0 .. 0x1f),
           '"' => '\\"', '\\' => '\\\\', "\n" => '\\n', "\r" => '\\r', "\t" => '\\t',
           "\x08" => '\\b', "\x0c" => '\\f', '/' => '\\/');

sub _u16 {
    my $c = ord shift;
    return sprintf('\\u%04x', $c) if $c < 0x10000;
    $c -= 0x10000;
    return sprintf('\\u%04x\\u%04x', 0xD800 + ($c >> 10), 0xDC00 + ($c & 0x3FF));
}

# A character string as a JSON string literal in UTF-8 bytes; $slack: escape as Slack does.
sub _js {
    my ($s, $slack) = @_;
    if ($slack) {
        $s =~ s{([\x00-\x1f"\\/])}{$ESC{$1}}g;
        $s =~ s{([^\x00-\x7f])}{_u16($1)}ge;
    } else {
        $s =~ s{([\x00-\x1f"\\])}{$ESC{$1}}g;
        utf8::encode($s);
    }
    return qq("$s");
}

# An object from key => JSON text pairs, in order; undef values are left out.
sub _o {
    my @f;
    for (my $i = 0; $i < @_; $i += 2) {
        push @f, qq("$_[$i]":$_[$i + 1]) if defined $_[$i + 1];
    }
    return '{' . join(',', @f) . '}';
}

sub _a { '[' . join(',', @_) . ']' }
sub _q { qq("$_[0]") }    # a string that needs no escaping: ids, ts, ASCII words
sub _b { $_[0] ? 'true' : 'false' }

# ------------------------------------------------------------------ pools

my @LATIN = (
    [qw(Anna Smith)], [qw(Boris Keller)], [qw(Chen Wei)], [qw(Diego Alvarez)],
    [qw(Emma Jones)], [qw(Fatima Haddad)], [qw(George Miller)], [qw(Hana Novak)],
    [qw(Ines Duarte)], [qw(Jamal Brooks)], [qw(Karin Olsen)], [qw(Liam Walsh)],
    [qw(Maya Patel)], [qw(Noah Fischer)], [qw(Olivia Brown)], [qw(Pavel Horak)],
);
my @CYRILLIC = (
    ['Анна', 'Петрова', 'anna', 'petrova'], ['Борис', 'Ёлкин', 'boris', 'yolkin'],
    ['Дмитрий', 'Соколов', 'dmitry', 'sokolov'], ['Елена', 'Кузнецова', 'elena', 'kuznetsova'],
    ['Ольга', 'Жукова', 'olga', 'zhukova'], ['Юрий', 'Щукин', 'yuri', 'shchukin'],
);
my @CJK = (
    ['太郎', '山田', 'taro', 'yamada'], ['娜', '李', 'na', 'li'], ['민준', '김', 'minjun', 'kim'],
    ['花子', '佐藤', 'hanako', 'sato'],
);
my @TITLES = ('Engineer', 'Designer', 'Support lead', 'Product manager', '', 'Data analyst',
              'Инженер', 'QA');
my @TZ = (['America/New_York', 'Eastern Standard Time', -18000],
          ['Europe/Moscow', 'Moscow Time', 10800], ['Asia/Tokyo', 'Japan Standard Time', 32400],
          ['Europe/London', 'Greenwich Mean Time', 0],
          ['America/Los_Angeles', 'Pacific Standard Time', -28800]);

my @TEXT_ASCII = (
    'Deploy finished, all green.', 'Can someone review my PR?', 'Lunch at 12?',
    "I'll look into it tomorrow", 'Meeting moved to 3pm', 'Thanks!', 'Here are the numbers for Q3',
    'LGTM', 'Quoted "text" with a backslash \\ and a tab	here', "Line one\nLine two\nLine three",
    '&lt;script&gt;alert(1)&lt;/script&gt; arrives escaped', 'Tom &amp; Jerry', '*bold* _italic_ ~strike~ `code`',
    "```multi\nline code```", '&gt; quoted reply', 'see path/to/file.txt and/or docs/', '50% done',
    'ok', 'Retrying the job now', 'Who owns the billing dashboard?',
);
my @TEXT_OTHER = (
    'Привет, команда!', 'Отчёт готов, посмотрите, пожалуйста', 'Ёлки-палки, опять сломалось',
    'Созвон в 15:00 по Москве', '今日は会議があります', '请查看最新的报告', '회의는 3시에 시작합니다',
    '🎉🎉🎉', '🚀 shipped', '👍🏽 sounds good', 'family 👨‍👩‍👧‍👦 emoji', 'مرحبا بالجميع', 'שלום לכולם',
    'café and cafe' . "\x{301}" . ' (NFC and NFD)', '¯\_(ツ)_/¯',
);
my @PUBLIC_NAMES = ('general', 'random', 'новости', 'dev-backend', 'dev_ops', 'dev-ops', 'design',
                    'support', 'announcements', 'sales');
my @PRIVATE_NAMES = ('secret-plans', 'hr_team', 'leadership', 'incident-room');
my @REACTIONS = ('+1', '+1', 'heart', 'joy', 'tada', 'eyes', 'thumbsup::skin-tone-2', 'fire', 'white_check_mark',
                 '-1', 'raised_hands::skin-tone-5');
my @EMOJI_NAMES = ('partyparrot', 'shipit', 'party_blob', 'ура', 'this-is-fine', 'meow_wave', 'lgtm',
                   'facepalm_picard');
my @BOTS = (['deploy-app', 'Deploy App'], ['jira', 'Jira Cloud'], ['github', 'GitHub'],
            ['pagerduty', 'PagerDuty'], ['rss', 'RSS']);

# ------------------------------------------------------------------ setup

sub new {
    my ($class, %opt) = @_;
    for (keys %opt) {
        croak "unknown option $_" unless exists $DEFAULTS{$_} || /^_/;
    }
    my $self = bless { %DEFAULTS, %opt }, $class;
    croak 'users must be at least 4' if $self->{users} < 4;
    croak 'public must be at least 1' if $self->{public} < 1;
    croak "file_bytes is 'url' or 'in_zip'" unless $self->{file_bytes} =~ /^(url|in_zip)$/;
    croak "order is 'shuffled' or 'sorted'" unless $self->{order} =~ /^(shuffled|sorted)$/;
    croak "meta is 'first' or 'last'" unless $self->{meta} =~ /^(first|last)$/;
    croak "json_style is 'slack', 'raw' or 'mixed'" unless $self->{json_style} =~ /^(slack|raw|mixed)$/;
    $self->{full} = $self->{facts} eq 'full';
    my $r = _rng($self->{seed}, 'ids');
    $self->{salt} = $r->() % 1_000_000_007;
    $self->{team} = _id('T', 0, $self->{salt});
    $self->{text} = [@TEXT_ASCII, $self->{non_latin} ? @TEXT_OTHER : ()];
    $self->_setup_bots;
    $self->_setup_emoji;
    $self->_setup_channels;
    return $self;
}

sub _uid { $_[0]{uid}[$_[1]] //= _id('U', $_[1], $_[0]{salt}) }

# A user's attributes, a pure function of (seed, index): 100,000 users need not be in memory.
sub _user {
    my ($self, $i) = @_;
    my $r = _rng($self->{seed}, 'user', $i);
    my $script = !$self->{non_latin} ? 0 : $i % 5 == 2 ? 1 : $i % 5 == 4 ? 2 : 0;
    my ($first, $last, $hf, $hl);
    if ($script == 0) {
        ($first, $last) = @{ $LATIN[_pick($r, scalar @LATIN)] };
        ($hf, $hl) = (lc $first, lc $last);
    } else {
        my $pool = $script == 1 ? \@CYRILLIC : \@CJK;
        ($first, $last, $hf, $hl) = @{ $pool->[_pick($r, scalar @$pool)] };
    }
    my $real = $script == 2 ? "$last $first" : "$first $last";
    my $handle = "$hf.$hl$i";
    my $tz = $TZ[$script == 1 ? 1 : $script == 2 ? 2 : _pick($r, scalar @TZ)];
    my $hash = substr(md5_hex("$self->{seed}:avatar:$i"), 0, 12);
    my $avatar = $i % 7 == 3
        ? "https://secure.gravatar.com/avatar/$hash.jpg?s=72&d=identicon"
        : "$self->{avatars_base}/2021-01-01/" . (100000 + $i) . "_${hash}_72.png";
    my @titles = grep { $self->{non_latin} || !/[^\x00-\x7f]/ } @TITLES;
    my $title = $i == 3 ? 'Principal ' . ('very ' x 40) . 'senior engineer'
                        : $titles[_pick($r, scalar @titles)];
    return {
        id => $self->_uid($i), name => $handle, first => $first, last => $last, real => $real,
        display => $i % 3 == 0 ? '' : $first, title => $title,
        email => $i % 23 == 22 ? "$handle\@guest.example.org" : "$handle\@example.com",
        tz => $tz, avatar => $avatar, avatar_hash => $hash,
        locale => $i % 4 == 1 ? undef : ('en-US', 'ru-RU', 'ja-JP')[$script],
        deleted => $i > 0 && $i % 17 == 16, guest => $i > 0 && $i % 23 == 22,
        color => substr(md5_hex("$self->{seed}:color:$i"), 0, 6), non_latin => $script != 0,
    };
}

sub _deleted { $_[1] > 0 && $_[1] % 17 == 16 }

sub _setup_bots {
    my ($self) = @_;
    my @b;
    for my $i (0 .. $self->{bots} - 1) {
        my ($name, $real) = @{ $BOTS[$i % @BOTS] };
        $name .= $i if $i >= @BOTS;
        push @b, { id => _id('B', $i, $self->{salt}), app => _id('A', $i, $self->{salt}),
                   name => $name, real => $real, user => $i == 0 ? _id('U', 900_000_000 + $i, $self->{salt}) : undef };
    }
    $self->{bot} = \@b;
}

sub _setup_emoji {
    my ($self) = @_;
    my @names = grep { $self->{non_latin} || /^[\x00-\x7f]+$/ } @EMOJI_NAMES;
    my $n = $self->{custom_emoji};
    my @e;
    for my $i (0 .. $n - 1) {
        my $name = $i < @names ? $names[$i] : "custom$i";
        push @e, $name;
    }
    my %url;
    for my $i (0 .. $#e) {
        my $path = $e[$i];
        utf8::encode($path);
        my $h = substr(md5_hex("$self->{seed}:emoji:$path"), 0, 16);
        $path =~ s/([^A-Za-z0-9_.-])/sprintf('%%%02X', ord $1)/ge;
        $url{$e[$i]} = "$self->{emoji_base}/$self->{team}/$path/$h." . ($i % 2 ? 'png' : 'gif');
    }
    # the last one is an alias of the first (emoji.list's "alias:<name>")
    $url{ $e[-1] } = "alias:$e[0]" if @e >= 3;
    $self->{emoji} = \@e;
    $self->{emoji_url} = \%url;
}

sub _setup_channels {
    my ($self) = @_;
    my $r = _rng($self->{seed}, 'channels');
    my $U = $self->{users};
    my @ch;
    my $n = 0;
    my $add = sub {
        my (%c) = @_;
        $c{idx} = $n++;
        push @ch, \%c;
        return \%c;
    };
    my @pub = grep { $self->{non_latin} || $_ ne 'новости' } @PUBLIC_NAMES;
    my $last_pub = $self->{public} - 1;
    for my $i (0 .. $last_pub) {
        my $name = $i < @pub ? $pub[$i] : sprintf('proj-%04d', $i);
        my $members = $i == 0
            ? [grep { !$self->_deleted($_) } 0 .. $U - 1]
            : $self->_subset($r, $U, $U <= 20 ? 3 + _pick($r, $U - 3) : 3 + _pick($r, _min(400, $U - 3)));
        $add->(kind => 'public', file => 'channels.json', id => _id('C', $n, $self->{salt} + 1),
               name => $name, members => $members, general => $i == 0,
               archived => $i == $last_pub && $i >= 2);
    }
    my @priv = @PRIVATE_NAMES;
    for my $i (0 .. $self->{private} - 1) {
        my $name = $i < @priv ? $priv[$i] : sprintf('private-%04d', $i);
        # the first private channel keeps a legacy G id; modern ones are C ids with is_private
        my $legacy = $i == 0;
        $add->(kind => 'private', file => 'groups.json', legacy => $legacy,
               id => _id($legacy ? 'G' : 'C', $n, $self->{salt} + 1), name => $name,
               members => $self->_subset($r, $U, 2 + _pick($r, _min(30, $U - 2))));
    }
    my %pair;
    for my $i (0 .. $self->{dms} - 1) {
        my ($x, $y);
        if ($i == 2) {
            ($x, $y) = (0, -1);    # a DM with Slackbot
        } elsif ($i < 2) {
            ($x, $y) = (0, $i + 1);
        } else {
            do { ($x, $y) = (_pick($r, $U), _pick($r, $U)) } while $x == $y || $pair{"$x:$y"} || $pair{"$y:$x"};
        }
        $pair{"$x:$y"} = 1;
        my $id = _id('D', $n, $self->{salt} + 1);
        $add->(kind => 'dm', file => 'dms.json', id => $id, name => $id, members => [$x, $y],
               slackbot => $y == -1);
    }
    for my $i (0 .. $self->{mpims} - 1) {
        # one group DM over Mattermost's 8 members, when there are people enough
        my $k = $i == 1 && $U >= 10 ? 9 : 3 + _pick($r, 3);
        my $members = $self->_subset($r, $U, $k);
        my $name = 'mpdm-' . join('--', map { $self->_user($_)->{name} } @$members) . '-1';
        $add->(kind => 'mpim', file => 'mpims.json', name => $name,
               id => _id($i == 0 ? 'G' : 'C', $n, $self->{salt} + 1), members => $members);
    }
    for my $c (@ch) {
        $c->{folder} = $c->{kind} eq 'dm' ? $c->{id} : $c->{name};
        $c->{created} = $self->{start} - $DAY * (30 + $c->{idx});
        $c->{creator} = $c->{kind} eq 'dm' ? 0 : $c->{members}[0];
        $c->{authors} = [grep { $_ >= 0 } @{ $c->{members} }];
    }
    $self->{channels} = \@ch;
    $self->_plan_days;
}

sub _min { $_[0] < $_[1] ? $_[0] : $_[1] }
sub _max { $_[0] > $_[1] ? $_[0] : $_[1] }

# k distinct users, user 0 (the owner) always among them.
sub _subset {
    my ($self, $r, $U, $k) = @_;
    $k = _min($k, $U);
    my %s = (0 => 1);
    while (keys %s < $k) {
        $s{ _pick($r, $U) } = 1;
    }
    return [sort { $a <=> $b } keys %s];
}

# How many elements each channel has, on which days: [day index, count] in time order.
sub _plan_days {
    my ($self) = @_;
    my @ch = @{ $self->{channels} };
    my $span = 365 * $self->{years};
    my @m;
    if (defined $self->{messages}) {
        my @w = map {
            $_->{general} ? 8 : $_->{kind} eq 'public' ? 4 / ($_->{idx} + 1)
                : $_->{kind} eq 'private' ? 1 / ($_->{idx} + 1) : $_->{kind} eq 'dm' ? 0.05 : 0.1
        } @ch;
        my $W = 0;
        $W += $_ for @w;
        my $total = $self->{messages};
        croak "messages must be at least 20 per channel" if $total < 20 * @ch;
        @m = map { _max(12, int($total * $_ / $W)) } @w;
        my $sum = 0;
        $sum += $_ for @m;
        $m[0] += $total - $sum;
        croak 'messages too few for this many channels' if $m[0] < 12;
    } else {
        @m = map {
            my $d = $_->{kind} =~ /^(dm|mpim)$/ ? _max(1, int($self->{days} / 3)) : $self->{days};
            my $per = $_->{kind} =~ /^(dm|mpim)$/ ? _max(1, int($self->{messages_per_day} / 2))
                                                  : $self->{messages_per_day};
            _max(12, $d * $per)
        } @ch;
    }
    for my $c (@ch) {
        my $r = _rng($self->{seed}, 'days', $c->{idx});
        my $m = $m[ $c->{idx} ];
        my $d = $c->{kind} =~ /^(dm|mpim)$/ ? _max(1, int($self->{days} / 3)) : $self->{days};
        $d = _min(_min($d, $span), _max(1, int($m / 2)));
        my %seen;
        while (keys %seen < $d) {
            $seen{ _pick($r, $span) } = 1;
        }
        my @days = map { [$_, 1] } sort { $a <=> $b } keys %seen;
        $days[ _pick($r, $d) ][1]++ for 1 .. $m - $d;
        for (@days) {
            croak 'more than 80,000 messages a day in one channel' if $_->[1] > 80_000;
        }
        $c->{days} = \@days;
    }
    # general's first day holds the fixed slots (joins, purpose, the collision, a thread root)
    my $g = $ch[0];
    _set_day_count($g->{days}, 0, _max(8, $g->{days}[0][1]));
    # the partner of the ts collision: the next channel that is not general, given general's
    # first day with as many elements, so that the shared ts falls in the same slice of it
    my ($partner) = grep { !$_->{general} && $_->{kind} =~ /^(public|private)$/ } @ch;
    ($partner) = grep { !$_->{general} } @ch unless $partner;
    if ($partner) {
        my $day0 = $g->{days}[0][0];
        my $old = $partner->{days};
        my $total = 0;
        $total += $_->[1] for @$old;
        my @days = grep { $_->[0] != $day0 } @$old;
        shift @days if @days == @$old;    # keep the number of days
        @days = sort { $a->[0] <=> $b->[0] } @days, [$day0, 1];
        _rebalance(\@days, $total);
        my ($jb) = grep { $days[$_][0] == $day0 } 0 .. $#days;
        _set_day_count(\@days, $jb, $g->{days}[0][1]);
        $partner->{days} = \@days;
        $self->{collide} = { a => $g, b => $partner, jb => $jb, k => $g->{days}[0][1] - 2 };
    }
}

# Make the counts add up to $total again after days were dropped or added.
sub _rebalance {
    my ($days, $total) = @_;
    my $sum = 0;
    $sum += $_->[1] for @$days;
    my $i = 0;
    while ($sum < $total) { $days->[$i++ % @$days][1]++; $sum++ }
    while ($sum > $total) {
        my ($big) = sort { $b->[1] <=> $a->[1] } @$days;
        last if $big->[1] <= 1;
        $big->[1]--;
        $sum--;
    }
}

# Day $j gets $n elements; the others give or take so the channel's total stays.
sub _set_day_count {
    my ($days, $j, $n) = @_;
    my $diff = $n - $days->[$j][1];
    $days->[$j][1] = $n;
    my @others = grep { $_ != $j } 0 .. $#$days;
    while ($diff > 0 && @others) {
        my ($big) = sort { $days->[$b][1] <=> $days->[$a][1] || $a <=> $b } @others;
        last if $days->[$big][1] <= 1;
        $days->[$big][1]--;
        $diff--;
    }
    while ($diff < 0 && @others) {
        $days->[ $others[0] ][1]++;
        $diff++;
    }
}

# ------------------------------------------------------------------ time stamps

sub _date {
    my @t = gmtime($_[0]);
    return sprintf('%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3]);
}

# The ts of element k of day j: strictly increasing inside a day (each element has its own
# slice of the day), and the low three digits of the microseconds are the channel's index, so
# two channels never share a ts unless _ts_override says so.
sub _ts {
    my ($self, $c, $j, $k) = @_;
    if (my $o = $c->{ts_override}) {
        return $o->{"$j:$k"} if exists $o->{"$j:$k"};
    }
    my ($day, $n) = @{ $c->{days}[$j] };
    my $w = $DAY / $n;
    my $h = ($k + 1) | ($j + 1) << 24 | ($c->{idx} + 1) << 44;
    $h ^= $h << 13, $h ^= $h >> 7, $h ^= $h << 17 for 1 .. 2;
    $h >>= 24;
    my $sec = $self->{start} + $day * $DAY + int($k * $w) + ($w >= 2 ? $h % int($w) : 0);
    return sprintf('%d.%03d%03d', $sec, ($h >> 10) % 1000, $c->{idx} % 1000);
}

# ------------------------------------------------------------------ the plan of a channel

# Which slots (the channel's elements in time order) are special, decided before any day file is
# written so that a thread root knows its replies and a reply its root whatever the file order.
sub _plan {
    my ($self, $c) = @_;
    my $r = _rng($self->{seed}, 'plan', $c->{idx});
    my @days = @{ $c->{days} };
    my (@base, $m);
    $m = 0;
    for (@days) { push @base, $m; $m += $_->[1] }
    my %sp;
    my $p = { spec => \%sp, base => \@base, m => $m };
    my $authors = $c->{authors};
    my $au = sub { $authors->[ _pick($r, scalar @$authors) ] };
    my $free = sub { $_[0] < $m && !$sp{ $_[0] } };
    my $group = $c->{kind} =~ /^(public|private)$/;

    if ($group) {
        my $joins = _min(3, scalar @$authors);
        $sp{$_} = { k => 'join', u => $authors->[$_] } for 0 .. $joins - 1;
    }
    if ($c->{general}) {
        $sp{3} = { k => 'purpose', u => 0 };
    }
    if (my $co = $self->{collide}) {
        if ($co->{a} == $c) {
            $sp{ $base[0] + $co->{k} } = { k => 'collide', u => $authors->[0] };
        } elsif ($co->{b} == $c) {
            my $s = $base[ $co->{jb} ] + $co->{k};
            $sp{$s} = { k => 'collide', u => $authors->[0] };
            $c->{ts_override} = { "$co->{jb}:$co->{k}" => $self->_ts($co->{a}, 0, $co->{k}) };
            $self->{collide}{ts} = $c->{ts_override}{"$co->{jb}:$co->{k}"};
        }
    }
    # a thread that crosses midnight: the root is the day's last element, the reply the next
    # day's first; write() puts the reply's file before the root's in the zip
    if ($self->{threads} && @days >= 2) {
        my ($root, $reply) = ($base[1] - 1, $base[1]);
        if ($free->($root) && $free->($reply)) {
            my $u = $au->();
            $sp{$reply} = { k => 'reply', u => $u, root => $root };
            $sp{$root} = { k => 'root', u => $au->(), replies => [[$reply, $u]] };
            $p->{cross} = [$root, $reply];
        }
    }
    if ($c->{general}) {
        my @forced = ({ k => 'rich' }, { k => 'long' });
        push @forced, { k => 'react', names => ['+1', 'thumbsup::skin-tone-2', @{ $self->{emoji} }] }
            if $self->{reactions};
        push @forced, { k => 'orphan' } if $self->{orphans} && $self->{threads};
        push @forced, { k => 'tombstone' } if $self->{threads};
        push @forced, { k => 'appbot' }, { k => 'bot', b => 1 } if $self->{bots} > 1;
        push @forced, { k => 'external' } if $self->{files};
        # a file shared here and again in the collision's other channel (or here, alone)
        push @forced, map { { k => 'file', files => [$self->_file_meta($c, 0)] } }
            1 .. ($self->{collide} ? 1 : 2) if $self->{files};
        my $s = 4;
        for my $f (@forced) {
            $s++ while !$free->($s) && $s < $m;
            last if $s >= $m;
            $f->{u} //= $au->();
            $sp{$s} = $f;
            if ($f->{k} eq 'tombstone') {
                my @rep;
                my $t = $s + 1;
                for (1 .. 2) {
                    $t++ while $t < $m && !$free->($t);
                    last if $t >= $m;
                    my $u = $au->();
                    $sp{$t} = { k => 'reply', u => $u, root => $s };
                    push @rep, [$t, $u];
                }
                $f->{replies} = \@rep;
                $f->{k} = 'plain' unless @rep;    # no room left for its replies
            }
        }
    }
    if ($self->{files} && $self->{collide} && $self->{collide}{b} == $c) {
        my $s = 3;
        $s++ while $s < $m && !$free->($s);
        $sp{$s} = { k => 'file', u => $au->(), files => [$self->_file_meta($self->{channels}[0], 0)] }
            if $s < $m;
    }
    my $fileno = $c->{general} ? 1 : 0;
    # one draw a slot picks what it is, from these odds
    my @odds = grep { $_->[1] } (
        [slackbot => $c->{slackbot} ? 0.5 : 0.002], [root => $self->{threads} ? 0.06 : 0],
        [edit => $self->{edits} ? 0.01 : 0], [deleted => $self->{edits} ? 0.005 : 0],
        [file => $self->{files} ? 0.02 : 0], [bot => $group && $self->{bots} > 1 ? 0.02 : 0],
        [appbot => $group && $self->{bots} > 0 ? 0.01 : 0]);
    for my $s (0 .. $m - 1) {
        next if $sp{$s};
        my $x = ($r->() >> 11) / 9007199254740992;
        my $what;
        for (@odds) {
            if ($x < $_->[1]) { $what = $_->[0]; last }
            $x -= $_->[1];
        }
        next unless $what;
        if ($what eq 'root') {
            next if $s + 1 >= $m;
            my @rep;
            my $t = $s;
            my $n = 1 + _pick($r, 4);
            for my $i (1 .. $n) {
                $t += 1 + _pick($r, 3);
                $t++ while $t < $m && $sp{$t};
                last if $t >= $m;
                my $u = $au->();
                $sp{$t} = { k => 'reply', u => $u, root => $s,
                            bcast => $i == $n && _chance($r, 0.2) };
                push @rep, [$t, $u];
            }
            $sp{$s} = { k => 'root', u => $au->(), replies => \@rep } if @rep;
        } elsif ($what eq 'edit') {
            my $ev = $s + 1 + _pick($r, 2);
            next if $ev >= $m || $sp{$ev};
            $sp{$s} = { k => 'edit_orig', u => $au->(), ev => $ev,
                        old => _pick($r, scalar @{ $self->{text} }),
                        new => _pick($r, scalar @{ $self->{text} }) };
            $sp{$ev} = { k => 'changed', orig => $s };
        } elsif ($what eq 'file') {
            my @f = map { $self->_file_meta($c, $fileno++) } 1 .. (_chance($r, 0.2) ? 2 : 1);
            $sp{$s} = { k => 'file', u => $au->(), files => \@f };
        } elsif ($what eq 'bot') {
            $sp{$s} = { k => 'bot', b => 1 + _pick($r, $self->{bots} - 1) };
        } else {
            $sp{$s} = { k => $what };
        }
    }
    if ($group && !$c->{general} && $m >= 8 && !$sp{ $m - 1 }) {
        $sp{ $m - 1 } = { k => 'leave', u => $authors->[-1] };
    }
    return $p;
}

sub _slot_jk {
    my ($p, $s) = @_;
    my ($lo, $hi) = (0, $#{ $p->{base} });
    while ($lo < $hi) {
        my $mid = int(($lo + $hi + 1) / 2);
        if ($p->{base}[$mid] <= $s) { $lo = $mid } else { $hi = $mid - 1 }
    }
    return ($lo, $s - $p->{base}[$lo]);
}

sub _slot_ts {
    my ($self, $c, $p, $s) = @_;
    return $self->_ts($c, _slot_jk($p, $s));
}

# ------------------------------------------------------------------ files

my @FILE_KINDS = (
    ['image.png', 'image/png', 'png', 'PNG'], ['notes.txt', 'text/plain', 'text', 'Plain Text'],
    ['export.csv', 'text/csv', 'csv', 'CSV'], ['blob.bin', 'application/octet-stream', 'binary', 'Binary'],
    ['отчёт 2023.txt', 'text/plain', 'text', 'Plain Text'], ['image.png', 'image/png', 'png', 'PNG'],
);

sub _file_meta {
    my ($self, $c, $n) = @_;
    my $idn = $c->{idx} * 100_000 + $n;
    my $kind = $FILE_KINDS[ ($c->{idx} + $n) % @FILE_KINDS ];
    $kind = $FILE_KINDS[0] if !$self->{non_latin} && $kind->[0] =~ /[^\x00-\x7f]/;
    my $f = { id => _id('F', $idn, $self->{salt}), name => $kind->[0], mimetype => $kind->[1],
              filetype => $kind->[2], pretty => $kind->[3], channel => $c->{id} };
    my $bytes = $self->_file_bytes($f);
    $f->{size} = length $bytes;
    return $f;
}

# A file's bytes, a pure function of its id: a real 8x8 PNG, text, CSV or noise.
sub _file_bytes {
    my ($self, $f) = @_;
    my $r = _rng($self->{seed}, 'file', $f->{id});
    if ($f->{filetype} eq 'png') {
        my $raw = '';
        for (1 .. 8) {
            $raw .= "\0" . join '', map { pack('CCC', $r->() & 255, $r->() & 255, $r->() & 255) } 1 .. 8;
        }
        my $chunk = sub { pack('N', length $_[1]) . $_[0] . $_[1] . pack('N', Compress::Zlib::crc32($_[0] . $_[1])) };
        return "\x89PNG\r\n\x1a\n" . $chunk->('IHDR', pack('NNCCCCC', 8, 8, 8, 2, 0, 0, 0))
             . $chunk->('IDAT', Compress::Zlib::compress($raw)) . $chunk->('IEND', '');
    }
    if ($f->{filetype} eq 'binary') {
        return join '', map { pack('Q<', $r->()) } 1 .. 64 + _pick($r, 448);
    }
    my $text = $self->{text};
    my $out = $f->{filetype} eq 'csv' ? "id,name,amount\n" : '';
    for my $i (1 .. 3 + _pick($r, 40)) {
        my $t = $text->[ _pick($r, scalar @$text) ];
        $t =~ s/[\r\n",]/ /g if $f->{filetype} eq 'csv';
        $out .= $f->{filetype} eq 'csv' ? "$i,\"$t\"," . _pick($r, 100000) . "\n" : "$t\n";
    }
    utf8::encode($out);
    return $out;
}

sub _file_json {
    my ($self, $f, $st, $u, $ts) = @_;
    if ($f->{external}) {
        return _o(id => _q($f->{id}), created => int($ts), timestamp => int($ts),
                  name => _js($f->{name}, $st), title => _js($f->{name}, $st),
                  mimetype => _js($f->{mimetype}, $st), filetype => '"gdoc"',
                  pretty_type => '"Google Docs"', user => _q($self->_uid($u)), editable => 'false',
                  size => $f->{size}, mode => '"external"', is_external => 'true',
                  external_type => '"gdrive"', is_public => 'true',
                  url_private => _js($f->{url}, $st), permalink => _js($f->{url}, $st));
    }
    my $path = "$self->{team}-$f->{id}/";
    my $name = $f->{name};
    utf8::encode($name);
    $name =~ s/([^A-Za-z0-9_.-])/sprintf('%%%02X', ord $1)/ge;    # URLs carry the name escaped
    my $priv = "$self->{files_base}/files-pri/$path$name";
    my $tok = '?t=synthetic-export-token-' . substr(md5_hex("$self->{seed}:tok:$f->{id}"), 0, 12);
    return _o(id => _q($f->{id}), created => int($ts), timestamp => int($ts),
              name => _js($f->{name}, $st), title => _js($f->{name}, $st),
              mimetype => _js($f->{mimetype}, $st), filetype => _q($f->{filetype}),
              pretty_type => _q($f->{pretty}), user => _q($self->_uid($u)), user_team => _q($self->{team}),
              editable => 'false', size => $f->{size}, mode => '"hosted"', is_external => 'false',
              external_type => '""', is_public => 'true', public_url_shared => 'false',
              display_as_bot => 'false', username => '""',
              url_private => _js("$priv$tok", $st),
              url_private_download => _js("$self->{files_base}/files-pri/${path}download/$name$tok", $st),
              permalink => _js("https://$self->{workspace}.slack.com/files/" . $self->_uid($u) . "/$f->{id}/$name", $st),
              has_rich_preview => 'false', file_access => '"visible"');
}

# ------------------------------------------------------------------ messages

# An ordinary message's text, already escaped for JSON (pieces are escaped once and kept).
sub _text {
    my ($self, $r, $st, $c) = @_;
    my $t = $self->{text};
    my $esc = $self->{esc}[$st] //= {};
    my $x = $r->();
    my $p = $t->[ _pick($r, scalar @$t) ];
    my $s = $esc->{$p} //= substr(_js($p, $st), 1, -1);
    if (($x & 1023) < 307) {
        $p = $t->[ _pick($r, scalar @$t) ];
        $s .= ' ' . ($esc->{$p} //= substr(_js($p, $st), 1, -1));
    }
    if ((($x >> 10) & 1023) < 51) {
        $s = '<@' . $self->_uid($c->{authors}[ _pick($r, scalar @{ $c->{authors} }) ]) . '> ' . $s;
    }
    my $emoji = $self->{emoji};
    if (@$emoji && (($x >> 20) & 1023) < 31) {
        my $e = $emoji->[ _pick($r, scalar @$emoji) ];
        $self->{f}{emoji_in_text}{$e} = 1;
        $s .= ' :' . ($esc->{$e} //= substr(_js($e, $st), 1, -1)) . ':';
    }
    return $s;
}

sub _profile {
    my ($self, $u, $st) = @_;
    return undef unless $self->{user_profile};
    my $cache = $self->{profile_cache}[$st] //= [];
    return $cache->[$u] if defined $cache->[$u];
    # at most 20,000 fragments are kept, so 100,000 users do not hold 80 MB of them
    if (++$self->{profile_n} > 20_000) {
        $self->{profile_cache} = [];
        $self->{profile_n} = 0;
        $cache = $self->{profile_cache}[$st] = [];
    }
    return $cache->[$u] = do {
        my $x = $self->_user($u);
        _o(avatar_hash => _q($x->{avatar_hash}), image_72 => _js($x->{avatar}, $st),
           first_name => _js($x->{first}, $st), real_name => _js($x->{real}, $st),
           display_name => _js($x->{display}, $st), team => _q($self->{team}),
           name => _q($x->{name}), is_restricted => _b($x->{guest}),
           is_ultra_restricted => 'false');
    };
}

sub _uuid {
    my ($r) = @_;
    my ($a, $b) = ($r->(), $r->());
    return sprintf('%08x-%04x-4%03x-%04x-%012x', $a >> 32, ($a >> 16) & 0xffff, $a & 0xfff,
                   0x8000 | (($b >> 48) & 0x3fff), $b & 0xffffffffffff);
}

sub _blocks {
    my ($self, $r, $st, @elements) = @_;
    my $id = substr(md5_hex($r->()), 0, 5);
    return _a(_o(type => '"rich_text"', block_id => _q($id),
                 elements => _a(_o(type => '"rich_text_section"', elements => _a(@elements)))));
}

# A rich_text section's elements for a text (a JSON string literal): its
# mentions as user elements, as Slack writes them, the rest as text.
sub _rich_elements {
    my ($tj) = @_;
    my $s = substr($tj, 1, -1);
    my (@e, $at);
    while ($s =~ /\G(.*?)<\@(U[A-Z0-9]+)>/gcs) {
        push @e, _o(type => '"text"', text => "\"$1\"") if length $1;
        push @e, _o(type => '"user"', user_id => _q($2));
        $at = pos $s;
    }
    my $rest = substr($s, $at // 0);
    push @e, _o(type => '"text"', text => "\"$rest\"") if length $rest || !@e;
    return @e;
}

# Reactions: each (name, users) pair; the facts count one reaction per user.
sub _reactions {
    my ($self, $c, $list) = @_;
    my @out;
    for my $x (@$list) {
        my ($name, $users) = @$x;
        push @out, _o(name => _js($name, $self->{st}), users => _a(map { _q($self->_uid($_)) } @$users),
                      count => scalar @$users);
        $self->{f}{counts}{reaction} += @$users;
        $self->{f}{reactions}{by_name}{$name} += @$users;
    }
    return _a(@out);
}

sub _random_reactions {
    my ($self, $r, $c) = @_;
    my $emoji = $self->{emoji};
    my $au = $c->{authors};
    my (@list, %seen);
    for (1 .. 1 + _pick($r, 3)) {
        my $name = @$emoji && _chance($r, 0.25) ? $emoji->[ _pick($r, scalar @$emoji) ]
                                                : $REACTIONS[ _pick($r, scalar @REACTIONS) ];
        next if $seen{$name}++;
        my %u;
        $u{ $au->[ _pick($r, scalar @$au) ] } = 1 for 1 .. 1 + _pick($r, 4);
        push @list, [$name, [sort { $a <=> $b } keys %u]];
    }
    return \@list;
}

# One element of a day file, as JSON text; the facts are counted here.
sub _element {
    my ($self, $c, $p, $j, $k, $r) = @_;
    my $s = $p->{base}[$j] + $k;
    my $ts = $self->_ts($c, $j, $k);
    my $st = $self->{st};
    my $sp = $p->{spec}{$s} || { k => 'plain' };
    my $kind = $sp->{k};
    my $f = $self->{f};
    $f->{counts}{message}++;
    $f->{messages}{by_channel}{ $c->{id} }++;
    my $T = _q($self->{team});

    if ($kind eq 'join' || $kind eq 'leave' || $kind eq 'purpose') {
        my $uid = $self->_uid($sp->{u});
        my $sub = $kind eq 'purpose' ? 'channel_purpose' : "channel_$kind";
        $f->{messages}{by_subtype}{$sub}++;
        my $text = $kind eq 'join' ? "<\@$uid> has joined the channel"
                 : $kind eq 'leave' ? "<\@$uid> has left the channel"
                 : "set the channel purpose: $c->{purpose}";
        return _o(type => '"message"', subtype => _js($sub), ts => _q($ts), user => _q($uid),
                  text => _js($text, $st),
                  purpose => $kind eq 'purpose' ? _js($c->{purpose}, $st) : undef,
                  inviter => $kind eq 'join' && $sp->{u} != 0 ? _q($self->_uid(0)) : undef);
    }
    if ($kind eq 'slackbot') {
        $f->{messages}{by_subtype}{''}++;
        $f->{uslackbot_messages}++;
        return _o(type => '"message"', user => '"USLACKBOT"',
                  text => _js('Reminder: ' . $self->{text}[ _pick($r, scalar @{ $self->{text} }) ], $st),
                  ts => _q($ts));
    }
    if ($kind eq 'tombstone') {
        $f->{messages}{by_subtype}{tombstone}++;
        $f->{uslackbot_messages}++;
        $f->{threads}{roots}++;
        my @rep = map { [$self->_slot_ts($c, $p, $_->[0]), $_->[1]] } @{ $sp->{replies} };
        return _o(type => '"message"', subtype => '"tombstone"', text => '"This message was deleted."',
                  user => '"USLACKBOT"', hidden => 'true', ts => _q($ts), thread_ts => _q($ts),
                  $self->_thread_fields(\@rep));
    }
    if ($kind eq 'deleted') {
        $f->{messages}{by_subtype}{message_deleted}++;
        $f->{edits}{message_deleted}++;
        my $gone = sprintf('%d.%06d', int($ts) - 1, 999_999 - ($c->{idx} % 1000));
        return _o(type => '"message"', subtype => '"message_deleted"', hidden => 'true',
                  deleted_ts => _q($gone), channel => _q($c->{id}), event_ts => _q($ts), ts => _q($ts));
    }
    if ($kind eq 'changed') {
        my $o = $p->{spec}{ $sp->{orig} };
        my $ots = $self->_slot_ts($c, $p, $sp->{orig});
        my $uid = _q($self->_uid($o->{u}));
        $f->{messages}{by_subtype}{message_changed}++;
        $f->{edits}{message_changed}++;
        return _o(type => '"message"', subtype => '"message_changed"', hidden => 'true',
                  message => _o(type => '"message"', user => $uid,
                                text => _js($self->{text}[ $o->{new} ], $st),
                                edited => _o(user => $uid, ts => _q($ts)), ts => _q($ots)),
                  previous_message => _o(type => '"message"', user => $uid,
                                         text => _js($self->{text}[ $o->{old} ], $st), ts => _q($ots)),
                  channel => _q($c->{id}), event_ts => _q($ts), ts => _q($ts));
    }
    if ($kind eq 'bot') {
        my $b = $self->{bot}[ $sp->{b} ];
        $f->{messages}{by_subtype}{bot_message}++;
        $f->{bot_ids}{ $b->{id} } = 1;
        $f->{placeholder_bot_ids}{ $b->{id} } = 1;    # no "user": the importer needs a stand-in
        my $text = $self->{text}[ _pick($r, scalar @{ $self->{text} }) ];
        my $att = _chance($r, 0.5) || defined $sp->{u}
            ? _a(_o(id => 1, color => '"36a64f"', fallback => _js("Build #$s passed"),
                    pretext => _js("Build #$s", $st), title => _js("Pipeline $s", $st),
                    title_link => _js("https://ci.example.com/p/$s", $st), text => _js($text, $st)))
            : undef;
        return _o(type => '"message"', subtype => '"bot_message"', text => _js($text, $st),
                  ts => _q($ts), username => _js($b->{name}, $st), icons => _o(emoji => '":robot_face:"'),
                  bot_id => _q($b->{id}), attachments => $att,
                  reactions => $self->{reactions} && _chance($r, 0.1)
                      ? $self->_reactions($c, $self->_random_reactions($r, $c)) : undef);
    }
    if ($kind eq 'appbot') {
        my $b = $self->{bot}[0];
        $f->{messages}{by_subtype}{''}++;
        $f->{bot_ids}{ $b->{id} } = 1;
        my $text = 'Deployed ' . substr(md5_hex($ts), 0, 7) . ' to production';
        return _o(type => '"message"', text => _js($text, $st), user => _q($b->{user}),
                  bot_id => _q($b->{id}), app_id => _q($b->{app}), ts => _q($ts),
                  bot_profile => _o(id => _q($b->{id}), deleted => 'false', name => _q($b->{name}),
                                    updated => $self->{start}, app_id => _q($b->{app}),
                                    icons => _o(image_48 => _js("$self->{avatars_base}/bot_48.png", $st)),
                                    team_id => $T),
                  blocks => $self->_blocks($r, $st, _o(type => '"text"', text => _js($text, $st))),
                  team => $T);
    }

    # a user's message: plain, a thread root or reply, a file share, with reactions or edits
    my $u = $sp->{u} // $c->{authors}[ _pick($r, scalar @{ $c->{authors} }) ];
    my $uid = $self->_uid($u);
    my ($text, $tj, $blocks, $subtype, @thread, $files, $reactions, $edited);
    if ($kind eq 'rich') {
        my $other = $self->{channels}[ _min(2, $#{ $self->{channels} }) ];
        my $who = $self->_uid($c->{authors}[1] // 0);
        my $e = $self->{emoji}[0];
        $text = "<\@$who> <!here> <!channel> see <#$other->{id}|$other->{name}> and "
              . '<https://example.com/docs?a=1&amp;b=2|the docs>, mail <mailto:team@example.com|team@example.com>'
              . ($e ? " :$e:" : '') . ($self->{non_latin} ? ' 🎉 Привет 你好' : ' :tada: hello');
        $f->{emoji_in_text}{$e} = 1 if $e;
        $blocks = $self->_blocks($r, $st,
            _o(type => '"user"', user_id => _q($who)), _o(type => '"text"', text => '" "'),
            _o(type => '"broadcast"', range => '"here"'),
            _o(type => '"channel"', channel_id => _q($other->{id})),
            _o(type => '"link"', url => _js('https://example.com/docs?a=1&b=2', $st), text => '"the docs"'),
            $e ? _o(type => '"emoji"', name => _js($e, $st)) : (),
            _o(type => '"emoji"', name => '"tada"', unicode => '"1f389"'),
            _o(type => '"text"', text => _js($self->{non_latin} ? ' Привет 你好' : ' hello', $st),
               style => _o(bold => 'true')));
        $f->{mentions} = { channel => $c->{id}, ts => $ts } if $self->{full};
    } elsif ($kind eq 'long') {
        $text = ('Длинное сообщение, long message. ' x 600) . 'end';
        $text =~ s/[^\x00-\x7f]//g unless $self->{non_latin};
        $f->{long_message} = { channel => $c->{id}, ts => $ts, chars => length $text } if $self->{full};
    } elsif ($kind eq 'edit_orig') {
        $text = $self->{text}[ $sp->{new} ];
        $edited = _o(user => _q($uid), ts => _js($self->_slot_ts($c, $p, $sp->{ev})));
    } elsif ($kind eq 'external') {
        $text = 'Shared a Google Doc';
    } elsif ($kind eq 'file' && _chance($r, 0.5)) {
        $text = '';
    } else {
        $tj = '"' . $self->_text($r, $st, $c) . '"';
    }
    $tj //= _js($text, $st);
    $blocks //= $self->_blocks($r, $st, _rich_elements($tj))
        if $kind ne 'file' && _chance($r, 0.3);
    if ($self->{edits} && !$edited && $kind eq 'plain' && _chance($r, 0.03)) {
        $edited = _o(user => _q($uid), ts => _js(sprintf('%d.000000', int($ts) + 60 + _pick($r, 3600))));
    }
    $f->{edits}{edited}++ if $edited;
    $f->{messages}{by_subtype}{''}++ if $kind !~ /^(file|external)$/ && !($kind eq 'reply' && $sp->{bcast});

    if ($kind eq 'root') {
        my @rep = map { [$self->_slot_ts($c, $p, $_->[0]), $_->[1]] } @{ $sp->{replies} };
        @thread = (thread_ts => _q($ts), $self->_thread_fields(\@rep));
        $f->{threads}{roots}++;
    } elsif ($kind eq 'reply') {
        my $root = $self->_slot_ts($c, $p, $sp->{root});
        my $ru = $p->{spec}{ $sp->{root} }{u};
        @thread = (thread_ts => _q($root), parent_user_id => _js($ru < 0 ? 'USLACKBOT' : $self->_uid($ru)));
        $f->{threads}{replies}++;
        if ($sp->{bcast}) {
            $subtype = 'thread_broadcast';
            $f->{messages}{by_subtype}{thread_broadcast}++;
            $f->{threads}{broadcast}++;
        }
        push @{ $f->{replies} }, [$ts, $root, $c->{id}] if $self->{full};
        if ($p->{cross} && $s == $p->{cross}[1]) {
            $p->{cross_ts} = [$root, $ts];
        }
    } elsif ($kind eq 'orphan') {
        my $ghost = sprintf('%d.%06d', $self->{start} - $DAY, 123_000 + $c->{idx} % 1000);
        @thread = (thread_ts => _q($ghost), parent_user_id => _q($self->_uid(0)));
        $f->{threads}{orphans}++;
        push @{ $f->{orphan_replies} }, { ts => $ts, thread_ts => $ghost, channel => $c->{id} };
    }
    if ($kind eq 'file' || $kind eq 'external') {
        my @fm = $kind eq 'file' ? @{ $sp->{files} } : ($self->_external_file($c));
        $subtype = 'file_share';
        $f->{messages}{by_subtype}{file_share}++;
        $files = _a(map { $self->_file_json($_, $st, $u, $ts) } @fm);
        for my $x (@fm) {
            $f->{file_refs}++;
            my $seen = $self->{files_seen}{ $x->{id} }++;
            next if $seen;
            $f->{counts}{attachment}++;
            $f->{files_slack_hosted}++ unless $x->{external};
            push @{ $f->{files} }, { id => $x->{id}, name => $x->{name}, size => $x->{size},
                                     mimetype => $x->{mimetype}, channel => $c->{id}, ts => $ts,
                                     external => $x->{external} ? 1 : 0 } if $self->{full};
            push @{ $p->{day_files} }, $x unless $x->{external};
        }
    }
    if ($kind eq 'react') {
        $reactions = $self->_reactions($c, [map { [$_, [0, $u == 0 ? () : $u]] } @{ $sp->{names} }]);
    } elsif ($kind eq 'collide' && $self->{reactions}) {
        $reactions = $self->_reactions($c, [['+1', [0]]]);
    } elsif ($self->{reactions} && _chance($r, 0.1)) {
        $reactions = $self->_reactions($c, $self->_random_reactions($r, $c));
    }
    return _o(client_msg_id => $kind eq 'file' ? undef : _js(_uuid($r)), type => '"message"',
              subtype => $subtype ? _q($subtype) : undef, text => $tj,
              files => $files, upload => $files ? 'false' : undef, user => _q($uid),
              display_as_bot => $files ? 'false' : undef, ts => _q($ts), blocks => $blocks,
              edited => $edited, @thread, reactions => $reactions, team => $T, user_team => $T,
              source_team => $T, user_profile => $self->_profile($u, $st));
}

sub _thread_fields {
    my ($self, $rep) = @_;
    my (%seen, @users);
    for (@$rep) { push @users, $_->[1] unless $seen{ $_->[1] }++ }
    return (reply_count => scalar @$rep, reply_users_count => scalar @users,
            latest_reply => _js($rep->[-1][0]), reply_users => _a(map { _q($self->_uid($_)) } @users),
            replies => _a(map { _o(user => _q($self->_uid($_->[1])), ts => _js($_->[0])) } @$rep),
            is_locked => 'false', subscribed => 'false');
}

sub _external_file {
    my ($self, $c) = @_;
    my $id = _id('F', 99_999_999, $self->{salt});
    return { id => $id, name => 'Quarterly plan', mimetype => 'application/vnd.google-apps.document',
             size => 0, external => 1, channel => $c->{id},
             url => 'https://docs.google.com/document/d/' . md5_hex("$self->{seed}:gdoc") . '/edit' };
}

# ------------------------------------------------------------------ the top-level files

sub _users_json {
    my ($self, $zip) = @_;
    my $st = $self->{st};
    my $T = _q($self->{team});
    my $f = $self->{f};
    $zip->begin('users.json');
    $zip->print("[\n");
    my $first = 1;
    my $emit = sub {
        $zip->print(($first ? '' : ",\n") . $_[0]);
        $first = 0;
        $f->{counts}{user}++;
    };
    for my $i (0 .. $self->{users} - 1) {
        my $x = $self->_user($i);
        $f->{users}{deleted}++ if $x->{deleted};
        $f->{users}{guests}++ if $x->{guest};
        $f->{users}{humans}++;
        push @{ $f->{users}{non_latin} }, $x->{id} if $x->{non_latin} && $self->{full} && @{ $f->{users}{non_latin} // [] } < 20;
        my $img = $x->{avatar};
        my %img = map { my $s = $_; (my $u = $img) =~ s/_72\./_$s./; ("image_$s" => _js($u, $st)) } 24, 32, 48, 72, 192, 512;
        $emit->(_o(
            id => _q($x->{id}), team_id => $T, name => _q($x->{name}), deleted => _b($x->{deleted}),
            color => _q($x->{color}), real_name => _js($x->{real}, $st),
            tz => _js($x->{tz}[0], $st), tz_label => _js($x->{tz}[1]), tz_offset => $x->{tz}[2],
            profile => _o(
                title => _js($x->{title}, $st), phone => '""', skype => '""',
                real_name => _js($x->{real}, $st), real_name_normalized => _js($x->{real}, $st),
                display_name => _js($x->{display}, $st), display_name_normalized => _js($x->{display}, $st),
                fields => 'null', status_text => '""', status_emoji => '""', status_expiration => 0,
                avatar_hash => _q($x->{avatar_hash}), email => _js($x->{email}, $st),
                first_name => _js($x->{first}, $st), last_name => _js($x->{last}, $st),
                map({ ("image_$_" => $img{"image_$_"}) } 24, 32, 48, 72, 192, 512),
                status_text_canonical => '""', team => $T),
            is_admin => _b($i == 0), is_owner => _b($i == 0), is_primary_owner => _b($i == 0),
            is_restricted => _b($x->{guest}), is_ultra_restricted => 'false', is_bot => 'false',
            is_app_user => 'false', updated => $self->{start} - $i, is_email_confirmed => _b(!$x->{deleted}),
            who_can_share_contact_card => '"EVERYONE"',
            locale => defined $x->{locale} ? _q($x->{locale}) : undef));
    }
    for my $b (grep { $_->{user} } @{ $self->{bot} }) {
        $f->{users}{bots}++;
        $emit->(_o(
            id => _q($b->{user}), team_id => $T, name => _q($b->{name}), deleted => 'false',
            color => '"3c989f"', real_name => _js($b->{real}, $st),
            profile => _o(title => '""', real_name => _js($b->{real}, $st), display_name => '""',
                          bot_id => _q($b->{id}), api_app_id => _q($b->{app}), always_active => 'true',
                          first_name => _js($b->{real}, $st), last_name => '""',
                          image_72 => _js("$self->{avatars_base}/bot_72.png", $st), team => $T),
            is_admin => 'false', is_owner => 'false', is_primary_owner => 'false', is_restricted => 'false',
            is_ultra_restricted => 'false', is_bot => 'true', is_app_user => 'false',
            updated => $self->{start}));
    }
    if ($self->{slackbot_in_users}) {
        $f->{users}{slackbot} = 1;
        $emit->(_o(
            id => '"USLACKBOT"', team_id => $T, name => '"slackbot"', deleted => 'false',
            color => '"757575"', real_name => '"Slackbot"', tz => _js('America/Los_Angeles', $st),
            tz_label => '"Pacific Standard Time"', tz_offset => -28800,
            profile => _o(title => '""', real_name => '"Slackbot"', display_name => '"Slackbot"',
                          always_active => 'true', first_name => '"slackbot"', last_name => '""',
                          team => $T),
            is_admin => 'false', is_owner => 'false', is_primary_owner => 'false', is_restricted => 'false',
            is_ultra_restricted => 'false', is_bot => 'false', is_app_user => 'false', updated => 0));
    }
    $zip->print("\n]\n");
}

sub _channel_json {
    my ($self, $c) = @_;
    my $st = $self->{st};
    my $members = _a(map { _js($_ < 0 ? 'USLACKBOT' : $self->_uid($_)) } @{ $c->{members} });
    if ($c->{kind} eq 'dm') {
        return _o(id => _q($c->{id}), created => $c->{created}, members => $members);
    }
    my $creator = _q($self->_uid($c->{creator}));
    my $set = sub { _o(value => _js($_[0], $st), creator => $_[0] eq '' ? '""' : $creator,
                       last_set => $_[0] eq '' ? 0 : $c->{created}) };
    return _o(id => _q($c->{id}), name => _js($c->{name}, $st), created => $c->{created},
              creator => $creator, is_archived => _b($c->{archived}), is_general => _b($c->{general}),
              is_private => $c->{kind} eq 'private' && !$c->{legacy} ? 'true' : undef,
              is_mpim => $c->{kind} eq 'mpim' ? 'true' : undef,
              members => $members, pins => undef,
              topic => $set->($c->{topic}), purpose => $set->($c->{purpose}));
}

sub _topics {
    my ($self) = @_;
    for my $c (@{ $self->{channels} }) {
        $c->{topic} = $c->{purpose} = '';
        next if $c->{kind} eq 'dm';
        if ($c->{general}) {
            $c->{topic} = "Company-wide announcements\nand work-based matters";
            $c->{purpose} = 'This channel is for workspace-wide communication and announcements. '
                          . 'All members are in this channel.';
        } elsif ($c->{name} eq 'новости') {
            $c->{topic} = 'Новости компании 📰';
            $c->{purpose} = 'Всё, что нужно знать';
        } elsif ($c->{kind} eq 'public' && $c->{idx} == 1) {
            # longer than Mattermost's 250-character purpose
            $c->{purpose} = 'A place for non-work banter, links, articles of interest, humor and anything else. ' x 4;
            $c->{topic} = 'Non-work banter and water cooler conversation';
        } elsif ($c->{kind} ne 'mpim') {
            $c->{topic} = "Topic of $c->{name}";
            $c->{purpose} = "Purpose of $c->{name}";
        }
    }
}

sub _meta {
    my ($self, $zip) = @_;
    my $f = $self->{f};
    my %by_file;
    for my $c (@{ $self->{channels} }) {
        push @{ $by_file{ $c->{file} } }, $c;
    }
    for my $file ('channels.json', 'dms.json', 'groups.json', 'integration_logs.json', 'mpims.json',
                  'users.json', 'canvases.json', 'emoji.json') {
        $self->{st} = $self->_style("meta:$file");
        if ($file eq 'users.json') {
            $self->_users_json($zip);
        } elsif ($file eq 'integration_logs.json' || $file eq 'canvases.json') {
            next unless $self->{extras};
            $zip->add($file, $file eq 'canvases.json' ? $self->_canvases : $self->_integration_logs);
            push @{ $f->{skipped_members} }, $file;
        } elsif ($file eq 'emoji.json') {
            next unless @{ $self->{emoji} };
            my $u = $self->{emoji_url};
            $zip->add($file, _o(map { (_raw_key($_, $self->{st}) => _js($u->{$_}, $self->{st})) } @{ $self->{emoji} }) . "\n");
            $f->{counts}{custom_emoji} = scalar @{ $self->{emoji} };
            $f->{emoji}{custom} = [@{ $self->{emoji} }];
            $f->{emoji}{aliases} = { map { $u->{$_} =~ /^alias:(.*)/ ? ($_ => $1) : () } keys %$u };
        } else {
            my $list = $by_file{$file} || [];
            $zip->add($file, "[\n" . join(",\n", map { $self->_channel_json($_) } @$list) . "\n]\n");
            $f->{counts}{channel} += @$list;
        }
    }
}

# a JSON object key: _o wraps it in quotes itself
sub _raw_key { my $k = _js(@_); return substr($k, 1, -1) }

# integration_logs.json and canvases.json: the help page names them but shows no contents; these
# shapes are our guesses, enough for an importer to prove it skips them.
sub _integration_logs {
    my ($self) = @_;
    my $T = $self->{start};
    return "[\n" . join(",\n",
        _o(user_id => _q($self->_uid(0)), user_name => _js($self->_user(0)->{name}),
           date => _js($T - 20 * $DAY), change_type => '"added"', service_id => '"1234567890"',
           service_type => '"Incoming WebHooks"', channel => '"#general"'),
        _o(user_id => _q($self->_uid(0)), user_name => _js($self->_user(0)->{name}),
           date => _js($T - 10 * $DAY), change_type => '"expanded"', app_id => _js($self->{bot}[0]{app} // 'A0'),
           app_type => '"app"', scope => '"chat:write,channels:read"')) . "\n]\n";
}

sub _canvases {
    my ($self) = @_;
    my $id = _id('F', 88_888_888, $self->{salt});
    return "[\n" . _o(id => _q($id), title => '"Team handbook"', date_created => $self->{start},
                      url_private => _js("$self->{files_base}/files-pri/$self->{team}-$id/canvas", 0),
                      is_channel_space => 'true', linked_channels => _a(_js($self->{channels}[0]{id}))) . "\n]\n";
}

sub _style {
    my ($self, $key) = @_;
    return 1 if $self->{json_style} eq 'slack';
    return 0 if $self->{json_style} eq 'raw';
    return unpack('C', md5("$self->{seed}:style:$key")) & 1;
}

# ------------------------------------------------------------------ write

sub write {
    my ($self, $path, %hook) = @_;
    my $f = do {
        local $ENV{TZ} = 'UTC';    # the zip's DOS times are local times
        POSIX::tzset();
        $self->_write($path, %hook);
    };
    POSIX::tzset();
    return $f;
}

sub _write {
    my ($self, $path, %hook) = @_;
    my $zip = Ferry::SlackExport::Zip->new($path, time => $self->{start} + $self->{years} * 365 * $DAY,
                                           level => $self->{level}, zip64 => $self->{zip64},
                                           full => $self->{full});
    my $f = $self->{f} = {
        seed => $self->{seed}, path => $path,
        counts => { map { $_ => 0 } qw(user channel message reaction attachment custom_emoji) },
        users => { humans => 0, bots => 0, deleted => 0, guests => 0, slackbot => 0 },
        messages => { by_subtype => {}, by_channel => {} },
        threads => { roots => 0, replies => 0, broadcast => 0, orphans => 0 },
        edits => { edited => 0, message_changed => 0, message_deleted => 0 },
        reactions => { by_name => {} }, emoji => { custom => [], aliases => {} },
        uslackbot_messages => 0, file_refs => 0, files_slack_hosted => 0, day_files => 0,
        skipped_members => [], cross_day_replies => [], reply_before_root => [],
        out_of_order_channels => [], bot_ids => {}, placeholder_bot_ids => {}, emoji_in_text => {},
        files => [], uploads => [], replies => [], orphan_replies => [],
    };
    $self->{files_seen} = {};
    $self->{uploaded} = {};
    $self->_topics;
    $self->_meta($zip) if $self->{meta} eq 'first';

    my @order = @{ $self->{channels} };
    my $or = _rng($self->{seed}, 'order');
    _shuffle($or, \@order) if $self->{order} eq 'shuffled';
    for my $c (@order) {
        $self->_write_channel($zip, $c, $or, \%hook);
    }
    if ($self->{extras}) {
        # a folder that matches no channel (one deleted before the export): skipped on import
        my $name = 'deleted-channel/' . _date($self->{start} + 40 * $DAY) . '.json';
        $zip->add($name, "[\n" . _o(type => '"message"', user => _q($self->_uid(0)),
                                     text => '"from a channel the export does not list"',
                                     ts => _js(($self->{start} + 40 * $DAY + 5) . '.000001')) . "\n]\n");
        push @{ $f->{skipped_members} }, $name;
    }
    $self->_meta($zip) if $self->{meta} eq 'last';
    $hook{_after}->($zip, $f, $self) if $hook{_after};
    $zip->close;

    $f->{size} = -s $path;
    $f->{member_count} = $zip->{count};
    $f->{members} = $zip->{names} if $self->{full};
    $f->{bot_ids} = [sort keys %{ $f->{bot_ids} }];
    $f->{placeholder_bot_ids} = [sort keys %{ $f->{placeholder_bot_ids} }];
    $f->{users}{in_json} = $f->{counts}{user};
    $f->{placeholder_users} = @{ $f->{placeholder_bot_ids} }
        + ($f->{uslackbot_messages} && !$self->{slackbot_in_users} ? 1 : 0);
    $f->{emoji}{used_in_text} = [sort keys %{ delete $f->{emoji_in_text} }];
    $f->{channels} = $self->_channel_facts;
    $f->{collision} = $self->{collide} && $self->{collide}{ts}
        ? { ts => $self->{collide}{ts}, channels => [$self->{collide}{a}{id}, $self->{collide}{b}{id}] }
        : undef;
    return $f;
}

sub _channel_facts {
    my ($self) = @_;
    my %k = (public => 0, private => 0, dm => 0, mpim => 0);
    my (%ids, @archived, @legacy, @non_latin);
    for my $c (@{ $self->{channels} }) {
        $k{ $c->{kind} }++;
        push @archived, $c->{id} if $c->{archived};
        push @legacy, $c->{id} if $c->{legacy};
        push @non_latin, $c->{id} if $c->{name} =~ /[^\x00-\x7f]/ && $c->{kind} ne 'dm';
        $ids{ $c->{id} } = { kind => $c->{kind}, name => $c->{name}, folder => $c->{folder},
                             members => scalar @{ $c->{members} }, days => scalar @{ $c->{days} } }
            if $self->{full} || $c->{idx} < 50;
    }
    my ($big) = grep { $_->{kind} eq 'mpim' && @{ $_->{members} } > 8 } @{ $self->{channels} };
    my ($sb) = grep { $_->{slackbot} } @{ $self->{channels} };
    return { %k, ids => \%ids, archived => \@archived, legacy_private => \@legacy,
             non_latin => \@non_latin, general => $self->{channels}[0]{id},
             big_mpim => $big ? $big->{id} : undef, slackbot_dm => $sb ? $sb->{id} : undef };
}

sub _write_channel {
    my ($self, $zip, $c, $or, $hook) = @_;
    my $f = $self->{f};
    my $p = $self->_plan($c);
    my $folder = $c->{folder};
    utf8::encode($folder);
    $zip->add("$folder/", undef) if $self->{dir_entries};
    my @days = 0 .. $#{ $c->{days} };
    if ($self->{order} eq 'shuffled') {
        _shuffle($or, \@days);
        if (my $x = $p->{cross}) {
            # the reply's day file goes in before its root's
            my ($jr) = _slot_jk($p, $x->[0]);
            my ($jp) = _slot_jk($p, $x->[1]);
            my ($ir) = grep { $days[$_] == $jr } 0 .. $#days;
            my ($ip) = grep { $days[$_] == $jp } 0 .. $#days;
            @days[$ir, $ip] = @days[$ip, $ir] if $ir < $ip;
        }
    }
    my %pos;
    for my $j (@days) {
        my $r = _rng($self->{seed}, 'day', $c->{idx}, $j);
        $self->{st} = $self->_style("day:$c->{idx}:$j");
        $p->{day_files} = [];
        my @el = map { $self->_element($c, $p, $j, $_, $r) } 0 .. $c->{days}[$j][1] - 1;
        my $date = _date($self->{start} + $c->{days}[$j][0] * $DAY);
        my $name = "$folder/$date.json";
        my $content = "[\n" . join(",\n", @el) . "\n]\n";
        $hook->{_day}->($self, $c, $j, \$content, \@el, $name) if $hook->{_day};
        $zip->add($name, $content);
        $pos{$j} = $zip->{count};
        $f->{day_files}++;
        if ($self->{file_bytes} eq 'in_zip') {
            for my $x (@{ $p->{day_files} }) {
                next if $self->{uploaded}{ $x->{id} }++;
                my $n = $x->{name};
                utf8::encode($n);
                my $m = "__uploads/$x->{id}/$n";
                $zip->add($m, $self->_file_bytes($x));
                push @{ $f->{uploads} }, $m if $self->{full};
            }
        }
    }
    if (@days > 1 && join(',', @days) ne join(',', sort { $a <=> $b } @days)) {
        push @{ $f->{out_of_order_channels} }, $c->{id} if $self->{full};
    }
    if (my $x = $p->{cross_ts}) {
        my ($jr) = _slot_jk($p, $p->{cross}[0]);
        my ($jp) = _slot_jk($p, $p->{cross}[1]);
        my $rec = { channel => $c->{id}, root_ts => $x->[0], ts => $x->[1],
                    root_member => _date($self->{start} + $c->{days}[$jr][0] * $DAY),
                    reply_member => _date($self->{start} + $c->{days}[$jp][0] * $DAY) };
        $_ = "$folder/$_.json" for @$rec{qw(root_member reply_member)};
        if ($self->{full}) {
            push @{ $f->{cross_day_replies} }, $rec;
            push @{ $f->{reply_before_root} }, $rec if $pos{$jp} < $pos{$jr};
        }
    }
}

# ------------------------------------------------------------------ bad exports

my %TINY = (users => 6, public => 1, private => 0, dms => 0, mpims => 0, days => 3,
            messages_per_day => 4, threads => 0, reactions => 0, files => 0, bots => 0,
            custom_emoji => 0, non_latin => 0, edits => 0, orphans => 0, extras => 0);

# Members whose names climb out of the extraction directory.
sub write_zip_slip {
    my ($path, %opt) = @_;
    my @evil = ('../evil.json', '/etc/evil.json', 'general/../../evil.json');
    my $x = __PACKAGE__->new(%TINY, %opt);
    return $x->write($path, _after => sub {
        my ($zip, $f) = @_;
        $zip->add($_, qq([{"type":"message","text":"zip slip","ts":"1609459200.000001"}]\n)) for @evil;
        $f->{evil} = \@evil;
    });
}

# A member that inflates to `bytes` (200 MiB) of JSON whitespace: "[", spaces, "]" is valid
# JSON, so only a limit on inflated bytes stops it. Written a MiB at a time. With lie => 1
# the local and central headers both claim `claimed` bytes uncompressed.
sub write_zip_bomb {
    my ($path, %opt) = @_;
    my $bytes = delete $opt{bytes} // 200 * 1024 * 1024;
    my $lie = delete $opt{lie};
    my $claimed = delete $opt{claimed} // 1000;
    my $member = 'general/2020-12-31.json';
    my $x = __PACKAGE__->new(%TINY, %opt);
    my $f = $x->write($path, _after => sub {
        my ($zip) = @_;
        $zip->begin($member, level => 9);
        $zip->print('[');
        my $chunk = ' ' x (1024 * 1024);
        my $left = $bytes - 2;
        while ($left > 0) {
            my $n = _min($left, length $chunk);
            $zip->print($n == length $chunk ? $chunk : substr($chunk, 0, $n));
            $left -= $n;
        }
        $zip->print(']');
    });
    my ($e) = grep { $_->{name} eq $member } _zip_entries($path);
    $f->{bomb} = { member => $member, inflated => $bytes, compressed => $e->{csize},
                   header_size => $e->{usize} };
    if ($lie) {
        open my $fh, '+<:raw', $path or croak "$path: $!";
        for my $at ($e->{cdh} + 24, $e->{lfh} + 22) {
            seek $fh, $at, 0;
            print {$fh} pack('V', $claimed);
        }
        close $fh or croak "$path: $!";
        $f->{bomb}{header_size} = $claimed;
        $f->{bomb}{lies} = 1;
    }
    return $f;
}

# An export cut short: the central directory (and part of the data) is missing.
sub write_truncated {
    my ($path, %opt) = @_;
    my $at = delete $opt{at};
    my $x = __PACKAGE__->new(%TINY, days => 6, %opt);
    my $f = $x->write($path);
    my $size = -s $path;
    $at //= int($size / 2);
    truncate($path, $at) or croak "truncate $path: $!";
    $f->{truncated} = { from => $size, to => $at };
    $f->{size} = $at;
    return $f;
}

# One day file of general that is not JSON (cut in the middle); every other file is fine.
sub write_invalid_json {
    my ($path, %opt) = @_;
    my $x = __PACKAGE__->new(%TINY, %opt);
    my $bad;
    return $x->write($path, _day => sub {
        my ($self, $c, $j, $content, $el, $name) = @_;
        return if $bad || !$c->{general} || $j != 1;
        $$content = substr($$content, 0, int(length($$content) / 2));
        $bad = $name;
        $self->{f}{bad_json} = { member => $name, messages => scalar @$el };
    });
}

# A day file of general with two more messages: one whose text holds bytes that are not UTF-8
# (a bad continuation, 0xFF, an overlong "/", an encoded surrogate), and one whose text is valid
# JSON but not text: a lone surrogate escape and \u0000.
sub write_invalid_utf8 {
    my ($path, %opt) = @_;
    my $x = __PACKAGE__->new(%TINY, %opt);
    my $done;
    return $x->write($path, _day => sub {
        my ($self, $c, $j, $content, $el, $name) = @_;
        return if $done || !$c->{general};
        $done = 1;
        my $day = $self->{start} + $c->{days}[$j][0] * $DAY;
        my @ts = map { sprintf('%d.%06d', $day + 86399, 999_000 + $_) } 998, 999;
        my $uid = $self->_uid(0);
        my $bytes = "bad bytes: \xC3\x28 \xFF \xC0\xAF \xED\xA0\x80 end";
        my @extra = (qq({"type":"message","user":"$uid","text":"$bytes","ts":"$ts[0]"}),
                     qq({"type":"message","user":"$uid","text":"lone surrogate \\ud800 and nul \\u0000","ts":"$ts[1]"}));
        $$content = "[\n" . join(",\n", @$el, @extra) . "\n]\n";
        $self->{f}{counts}{message} += 2;
        $self->{f}{messages}{by_channel}{ $c->{id} } += 2;
        $self->{f}{invalid_utf8} = { member => $name, ts => \@ts, bytes => $bytes };
    });
}

# The entries of a zip from its central directory (no zip64): name, sizes, header offsets.
sub _zip_entries {
    my ($path) = @_;
    open my $fh, '<:raw', $path or croak "$path: $!";
    my $size = -s $fh;
    my $tail = _min($size, 65557);
    seek $fh, $size - $tail, 0;
    read($fh, my $buf, $tail);
    my $eocd = rindex($buf, "PK\x05\x06");
    croak "$path: no end of central directory" if $eocd < 0;
    my ($n, $cdsize, $cdoff) = unpack('x10 v V V', substr($buf, $eocd, 22));
    seek $fh, $cdoff, 0;
    read($fh, my $cd, $cdsize);
    my ($pos, @e) = (0);
    for (1 .. $n) {
        my ($sig, $csize, $usize, $nl, $xl, $cl, $lfh) = unpack('V x16 V V v v v x8 V', substr($cd, $pos, 46));
        croak "$path: bad central directory" unless $sig == 0x02014b50;
        push @e, { name => substr($cd, $pos + 46, $nl), csize => $csize, usize => $usize,
                   cdh => $cdoff + $pos, lfh => $lfh };
        $pos += 46 + $nl + $xl + $cl;
    }
    return @e;
}

# ------------------------------------------------------------------ the zip writer

package Ferry::SlackExport::Zip;

use Carp qw(croak);
use IO::Compress::Zip qw($ZipError ZIP_CM_STORE ZIP_CM_DEFLATE);

sub new {
    my ($class, $path, %o) = @_;
    return bless { path => $path, %o, z => undef, names => [], count => 0 }, $class;
}

# Starts a member; $name is bytes (UTF-8 names get the EFS flag). Sizes go in the local header
# (Stream => 0: the file is seekable), so there are no data descriptors.
sub begin {
    my ($self, $name, %o) = @_;
    my $dir = $name =~ m{/$};
    my @opt = (Name => $name, Time => $self->{time}, Stream => 0, EFS => $name =~ /[\x80-\xff]/ ? 1 : 0,
               Zip64 => $self->{zip64} ? 1 : 0, TextFlag => 0,
               $dir ? (Method => ZIP_CM_STORE, ExtAttr => (040755 << 16) | 0x10)
                    : (Method => ZIP_CM_DEFLATE, ExtAttr => 0100644 << 16, -Level => $o{level} // $self->{level}));
    if ($self->{z}) {
        $self->{z}->newStream(@opt) or croak "zip: $ZipError";
    } else {
        $self->{z} = IO::Compress::Zip->new($self->{path}, @opt) or croak "zip: $ZipError";
    }
    $self->{count}++;
    push @{ $self->{names} }, $name if $self->{full};
}

sub print {
    my ($self, $bytes) = @_;
    $self->{z}->print($bytes) or croak "zip: $ZipError" if length $bytes;
}

sub add {
    my ($self, $name, $bytes) = @_;
    $self->begin($name);
    $self->print($bytes) if defined $bytes;
}

sub close {
    my ($self) = @_;
    $self->{z}->close or croak "zip: $ZipError" if $self->{z};
}

1;
