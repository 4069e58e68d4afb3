package Ferry::Mattermost::Server;

# The emulator's state and the parts every route shares: the handler
# wrapper (rate limiter, request id, session from the bearer token, the
# payload limit, AppError rendering), permission checks, the JSON the
# server writes for each object, multipart parsing and the read-only
# control route GET /__mm/state. The routes themselves are in Users,
# Channels, Posts, Import and Plugin next to this file. Everything here
# runs in the Ferry::Peer process; the test reads the state over HTTP.

use strict;
use warnings;
use utf8;

use Encode ();
use JSON::PP;
use Scalar::Util qw(blessed);

use Ferry::Peer ();

use Ferry::Mattermost::Model qw(new_id is_valid_id now_ms app_error error_message);
use Ferry::Mattermost::Users;
use Ferry::Mattermost::Channels;
use Ferry::Mattermost::Posts;
use Ferry::Mattermost::Import;
use Ferry::Mattermost::Plugin;

my $JSON = Ferry::Peer::json_codec()->utf8;

our %DEFAULTS = (
    seed => 'ferry',
    admin_username => 'sysadmin',
    admin_email => 'sysadmin@example.com',
    admin_token => undef,                 # derived from the seed when absent
    team_name => 'test',
    team_display_name => 'Test',
    users => [],                          # [{username, email, roles?, token?, ...}]
    plugin => 1,                          # the mm-importer plugin is installed
    max_file_size => 100 * 1024 * 1024,   # FileSettings.MaxFileSize
    max_payload => 300_000,               # ServiceSettings.MaximumPayloadSizeBytes
    emoji_max_bytes => 1 << 19,           # app.MaxEmojiFileSize
    custom_emoji => 1,                    # ServiceSettings.EnableCustomEmoji
    enable_file_attachments => 1,         # FileSettings.EnableFileAttachments
    file_ids_max_runes => 300,            # model.PostFileidsMaxRunes (150 before v6)
    post_max_runes => 16383,              # model.PostMessageMaxRunesV2
    reaction_limit => 50,                 # ServiceSettings.UniqueEmojiReactionLimitPerPost
    password_min_length => 8,             # PasswordSettings.MinimumLength
    open_server => 0,                     # TeamSettings.EnableOpenServer
    developer => 0,                       # ServiceSettings.EnableDeveloper: keep detailed_error
    rate_limit => undef,                  # { per_sec, max_burst, vary_by_user }
    job_step => 0.05,                     # seconds a job spends pending, then in progress
    system_emoji => [],                   # names to add to the built-in list
    data_dir => undef,                    # where uploads and import files go (set by Ferry::Mattermost)
);

# A subset of model.SystemEmojis (server/public/model/emoji_data.go holds
# about 4,500 names): the common ones, their aliases, and what a Slack
# migration maps to. A name not here is looked up among custom emoji.
my @SYSTEM_EMOJI = qw(
    +1 -1 thumbsup thumbsdown thumbs_up thumbs_down smile smiley grinning grin joy
    laughing satisfied sweat_smile rofl slightly_smiling_face wink blush innocent
    heart_eyes kissing_heart heart hearts broken_heart yellow_heart green_heart
    blue_heart purple_heart heavy_heart_exclamation fire tada sparkles star star2
    eyes pray clap raised_hands ok_hand wave muscle point_up point_down point_left
    point_right white_check_mark heavy_check_mark x warning question exclamation
    100 rocket thinking thinking_face cry sob rage angry scream sunglasses
    neutral_face expressionless confused upside_down_face slightly_frowning_face
    frowning disappointed sweat sleeping zzz coffee beer beers pizza cake
    birthday gift ship shipit memo pencil pencil2 bulb bug lock key hammer wrench
    gear link chart_with_upwards_trend calendar date clock1 hourglass alarm_clock
    sunny cloud umbrella snowflake zap rainbow ocean earth_americas dog cat
    squirrel chipmunk monkey see_no_evil hear_no_evil speak_no_evil poop hankey
    skull ghost alien robot robot_face handshake facepalm shrug man_shrugging
    woman_shrugging raising_hand heavy_plus_sign heavy_minus_sign arrow_up
    arrow_down arrow_left arrow_right leftwards_arrow_with_hook
    white_frowning_face slightly_smiling smile_cat joy_cat
);

sub new {
    my ($class, %opt) = @_;
    my %o = (%DEFAULTS, %opt);
    my @unknown = grep { !exists $DEFAULTS{$_} } sort keys %opt;
    die "Ferry::Mattermost: unknown options @unknown\n" if @unknown;
    my $self = bless { o => \%o, n => 0, rq => 0, seq => 0 }, $class;
    $self->{system_emoji} = { map { $_ => 1 } @SYSTEM_EMOJI, @{ $o{system_emoji} } };
    $self->{ratelimit} = Ferry::Mattermost::RateLimit->new(%{ $o{rate_limit} })
        if $o{rate_limit};
    $self->_init_state;
    return $self;
}

sub opt { $_[0]{o}{ $_[1] } }

sub id { my ($self) = @_; return new_id($self->{o}{seed}, 'id:' . ++$self->{n}) }

sub next_seq { ++$_[0]{seq} }

# the tables, each a hash by key; every row has seq, its creation order
sub _init_state {
    my ($self) = @_;
    my $st = $self->{st} = {};
    $st->{$_} = {} for qw(users tokens teams team_members channels channel_members posts
                          files reactions emoji uploads jobs images imports);
    my $admin = $self->insert_user({
        username => $self->{o}{admin_username}, email => $self->{o}{admin_email},
        roles => 'system_admin system_user', auth_service => '', password => '(set)',
    });
    $self->{admin_id} = $admin->{id};
    my $token = $self->{o}{admin_token} // new_id($self->{o}{seed}, 'admin-token');
    $self->insert_token($admin->{id}, 'admin token (emulator start)', $token);
    $self->{admin_token} = $token;

    my $team = $self->{team} = {
        id => $self->id, name => $self->{o}{team_name}, display_name => $self->{o}{team_display_name},
        type => 'O', create_at => now_ms(), update_at => now_ms(), delete_at => 0,
        email => '', description => '', allow_open_invite => JSON::PP::false,
        seq => $self->next_seq,
    };
    $st->{teams}{ $team->{id} } = $team;
    # CreateTeam makes the two default channels
    for my $c (['town-square', 'Town Square'], ['off-topic', 'Off-Topic']) {
        $self->insert_channel({ team_id => $team->{id}, name => $c->[0], display_name => $c->[1],
                                type => 'O', creator_id => '' });
    }
    Ferry::Mattermost::Users::join_team($self, $team, $admin);

    for my $u (@{ $self->{o}{users} }) {
        my $user = $self->insert_user({ roles => 'system_user', auth_service => '', %$u,
                                        token => undef });
        $self->insert_token($user->{id}, 'seeded', $u->{token}) if defined $u->{token};
        Ferry::Mattermost::Users::join_team($self, $team, $user) unless $u->{no_team};
    }
}

sub insert_user {
    my ($self, $u) = @_;
    my $now = now_ms();
    my $user = {
        id => $self->id, create_at => $now, update_at => $now, delete_at => 0,
        username => lc($u->{username}), email => lc($u->{email} // ''),
        auth_service => $u->{auth_service} // '', auth_data => $u->{auth_data},
        password => $u->{password} // '', roles => $u->{roles} // 'system_user',
        nickname => $u->{nickname} // '', first_name => $u->{first_name} // '',
        last_name => $u->{last_name} // '', position => $u->{position} // '',
        locale => ($u->{locale} // '') eq '' ? 'en' : $u->{locale},
        props => $u->{props} // {}, notify_props => $u->{notify_props} || default_notify_props(),
        timezone => $u->{timezone} || { automaticTimezone => '', manualTimezone => '',
                                         useAutomaticTimezone => 'true' },
        email_verified => $u->{email_verified} ? JSON::PP::true : JSON::PP::false,
        last_picture_update => 0, last_password_update => $now,
        is_bot => JSON::PP::false, seq => $self->next_seq,
    };
    $user->{auth_data} = undef if defined $user->{auth_data} && $user->{auth_data} eq '';
    $self->{st}{users}{ $user->{id} } = $user;
    return $user;
}

sub default_notify_props {
    return { email => 'true', push => 'mention', desktop => 'mention', desktop_sound => 'true',
             mention_keys => '', channel => 'true', push_status => 'away', comments => 'never',
             first_name => 'false', desktop_threads => 'all', email_threads => 'all',
             push_threads => 'all' };
}

sub insert_token {
    my ($self, $user_id, $description, $token) = @_;
    my $t = { id => $self->id, token => $token // $self->id, user_id => $user_id,
              description => $description, is_active => JSON::PP::true, seq => $self->next_seq };
    $self->{st}{tokens}{ $t->{token} } = $t;
    return $t;
}

sub insert_channel {
    my ($self, $c) = @_;
    my $now = now_ms();
    my $ch = {
        id => $self->id, create_at => $now, update_at => $now, delete_at => 0,
        team_id => $c->{team_id} // '', type => $c->{type}, display_name => $c->{display_name} // '',
        name => $c->{name}, header => $c->{header} // '', purpose => $c->{purpose} // '',
        last_post_at => 0, total_msg_count => 0, extra_update_at => 0,
        creator_id => $c->{creator_id} // '', scheme_id => undef, props => undef,
        group_constrained => undef, shared => undef, total_msg_count_root => 0,
        policy_id => undef, last_root_post_at => 0, seq => $self->next_seq,
    };
    $self->{st}{channels}{ $ch->{id} } = $ch;
    return $ch;
}

# ------------------------------------------------------------------ lookups

sub user { $_[0]{st}{users}{ $_[1] // '' } }
sub channel { $_[0]{st}{channels}{ $_[1] // '' } }
sub team { $_[0]{st}{teams}{ $_[1] // '' } }
sub post { $_[0]{st}{posts}{ $_[1] // '' } }

sub user_by {
    my ($self, $field, $value) = @_;
    for my $u (values %{ $self->{st}{users} }) {
        return $u if defined $u->{$field} && defined $value && $u->{$field} eq $value;
    }
    return;
}

sub team_by_name {
    my ($self, $name) = @_;
    my ($t) = grep { $_->{name} eq $name && !$_->{delete_at} } values %{ $self->{st}{teams} };
    return $t;
}

sub channel_by_name {
    my ($self, $team_id, $name, $include_deleted) = @_;
    for my $c (values %{ $self->{st}{channels} }) {
        next unless $c->{team_id} eq ($team_id // '') && $c->{name} eq ($name // '');
        return $c if $include_deleted || !$c->{delete_at};
    }
    return;
}

sub team_member { $_[0]{st}{team_members}{"$_[1]:$_[2]"} }
sub channel_member { $_[0]{st}{channel_members}{"$_[1]:$_[2]"} }

sub is_admin {
    my ($self, $user) = @_;
    return $user && (' ' . ($user->{roles} // '') . ' ') =~ / system_admin / ? 1 : 0;
}

# ------------------------------------------------------------------ permissions

sub permission_error {
    my ($self, $ctx, $perm) = @_;
    app_error(403, 'api.context.permissions.app_error',
              detail => "userId=$ctx->{user}{id}, permission=$perm");
}

# SessionHasPermissionToChannel for the channel-scoped permissions a
# member holds (create_post, upload_file, add_reaction, read...): a system
# admin has them everywhere, anyone else in the channels they belong to.
sub require_channel_member {
    my ($self, $ctx, $channel_id, $perm) = @_;
    return if $self->is_admin($ctx->{user});
    $self->permission_error($ctx, $perm)
        unless $channel_id && $self->channel_member($channel_id, $ctx->{user}{id});
}

sub require_admin {
    my ($self, $ctx, $perm) = @_;
    $self->permission_error($ctx, $perm // 'manage_system') unless $self->is_admin($ctx->{user});
}

# ------------------------------------------------------------------ JSON out

sub bool { $_[0] ? JSON::PP::true : JSON::PP::false }

sub strip { my %h = %{ $_[0] }; delete @h{qw(seq password data_path)}; \%h }

# User.Sanitize for API answers: no password, auth_data blanked
sub user_json {
    my ($self, $u) = @_;
    my $h = strip($u);
    $h->{auth_data} = '';
    return $h;
}

sub channel_json { strip($_[1]) }
sub team_json { strip($_[1]) }

sub post_json {
    my ($self, $p) = @_;
    my $h = strip($p);
    # the thread's replies, counted as they are made (no route deletes a
    # post): a scan of every post per answer made a long export quadratic
    $h->{reply_count} = $self->{replies}{ $p->{root_id} eq '' ? $p->{id} : $p->{root_id} } // 0;
    $h->{has_reactions} = bool($p->{has_reactions}) if $p->{has_reactions};
    delete $h->{has_reactions} unless $p->{has_reactions};
    $h->{metadata} = {};
    return $h;
}

sub file_json { my $h = strip($_[1]); delete $h->{sha256}; $h }
sub reaction_json { strip($_[1]) }
sub emoji_json { strip($_[1]) }

sub ok_status { return (200, { status => 'OK' }) }

# A page of @all by the request's page and per_page (web/params.go: both
# numbers, per_page 60 by default and at most 200); 400 for a bad one.
sub page_of {
    my ($self, $req, @all) = @_;
    my $q = $req->query;
    for my $k (qw(page per_page)) {
        app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => $k })
            if defined $q->{$k} && $q->{$k} !~ /^\d+\z/;
    }
    my $per = $q->{per_page} // 60;
    $per = 200 if $per > 200;
    my $page = $q->{page} // 0;
    return ([ grep { defined } @all[ $page * $per .. $page * $per + $per - 1 ] ], @all > ($page + 1) * $per);
}

# ------------------------------------------------------------------ requests

# The JSON body as Go's decoder would take it (whatever the content type);
# invalid JSON fails the way SetInvalidParamWithErr does.
sub body_json {
    my ($self, $req, $param) = @_;
    my $v = eval { $JSON->decode($req->body) };
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => $param },
              detail => "$@" =~ s/ at \S+ line \d+.*//sr)
        if $@ || !defined $v;
    return $v;
}

# multipart/form-data split into parts: {name, filename, content_type, data}
sub multipart {
    my ($self, $req) = @_;
    my $ct = $req->header('Content-Type') // '';
    return unless $ct =~ m{^multipart/form-data}i;
    my ($b) = $ct =~ /boundary=(?:"([^"]+)"|([^;\s]+))/i;
    $b = $1 // $2;
    return unless defined $b;
    my $body = $req->body;
    my $delim = "--$b";
    my $pos = index($body, $delim);
    return if $pos < 0;
    $pos += length $delim;
    my @parts;
    while (1) {
        last if substr($body, $pos, 2) eq '--';
        $pos += 2 if substr($body, $pos, 2) eq "\r\n";
        my $next = index($body, "\r\n$delim", $pos);
        return if $next < 0;
        my $part = substr($body, $pos, $next - $pos);
        my $hend = index($part, "\r\n\r\n");
        return if $hend < 0;
        my %p = (data => substr($part, $hend + 4));
        for my $line (split /\r\n/, substr($part, 0, $hend)) {
            my ($k, $v) = $line =~ /^([^:]+):\s*(.*)$/ or next;
            if (lc $k eq 'content-disposition') {
                ($p{name}) = $v =~ /\bname="([^"]*)"/;
                ($p{filename}) = $v =~ /\bfilename="([^"]*)"/;
                $p{filename} = Encode::decode('UTF-8', $p{filename}) if defined $p{filename};
            } elsif (lc $k eq 'content-type') {
                $p{content_type} = $v;
            }
        }
        push @parts, \%p;
        $pos = $next + 2 + length $delim;
    }
    return \@parts;
}

sub form_value {
    my ($parts, $name) = @_;
    my ($p) = grep { ($_->{name} // '') eq $name && !defined $_->{filename} } @$parts;
    return $p ? Encode::decode('UTF-8', $p->{data}) : undef;
}

# ------------------------------------------------------------------ routes

sub install {
    my ($self, $peer) = @_;
    my @routes = (
        Ferry::Mattermost::Users::routes(),
        Ferry::Mattermost::Channels::routes(),
        Ferry::Mattermost::Posts::routes(),
        Ferry::Mattermost::Import::routes(),
    );
    for my $r (@routes) {
        my ($method, $pattern, $handler, %flags) = @$r;
        $peer->route($method, $pattern, sub { $self->handle($_[0], $handler, \%flags) });
    }
    for my $r (Ferry::Mattermost::Plugin::routes()) {
        my ($method, $pattern, $handler) = @$r;
        $peer->route($method, "/plugins/mm-importer$pattern",
                     sub { $self->handle_plugin($_[0], $handler) });
    }
    # what a server without the plugin answers for its routes (the
    # plugin router's http.NotFound), and for other plugins
    $peer->route(ANY => '/plugins/*rest', sub {
        my ($req) = @_;
        return $self->wrap_plain($req, sub { (404, "404 page not found\n",
                                              { 'Content-Type' => 'text/plain; charset=utf-8' }) });
    });
    $peer->route(GET => '/__mm/state', sub { (200, $self->state_dump) });
    $peer->route(ANY => '/api/v4/*rest', sub {
        my ($req) = @_;
        $self->handle($req, sub { app_error(404, 'api.context.404.app_error') }, {});
    });
}

# the rate limiter and the headers every answer carries
sub wrap_plain {
    my ($self, $req, $code) = @_;
    my %h = ('X-Request-Id' => new_id($self->{o}{seed}, 'request:' . ++$self->{rq}),
             'X-Version-Id' => '10.11.0.ferry-emulator.0.false');
    if (my $rl = $self->{ratelimit}) {
        my $key = 'ip:' . ($req->remote_address // '');
        if ($self->{o}{rate_limit}{vary_by_user} && (my $tok = _token($req))) {
            $key = "token:$tok";
        }
        my ($limited, $limit, $remaining, $reset, $retry) = $rl->take($key);
        $h{'X-RateLimit-Limit'} = $limit;
        $h{'X-RateLimit-Remaining'} = $remaining;
        $h{'X-RateLimit-Reset'} = _ceil($reset);
        if ($limited) {
            $h{'Retry-After'} = _ceil($retry);
            return (429, "limit exceeded\n", { %h, 'Content-Type' => 'text/plain; charset=utf-8',
                                              'X-Content-Type-Options' => 'nosniff' });
        }
    }
    my ($status, $body, $headers) = $code->(\%h);
    return ($status, $body, { %h, %{ $headers || {} } });
}

sub _ceil { my $x = shift; my $i = int $x; $i++ if $x > $i; $i }

# app.ParseAuthTokenFromRequest: "Authorization: Bearer|Token <token>"
sub _token {
    my ($req) = @_;
    my $auth = $req->header('Authorization') // '';
    return $auth =~ /^(?:bearer|token)\s+(\S+)\s*$/i ? $1 : undef;
}

sub session_user {
    my ($self, $token) = @_;
    return unless defined $token;
    my $t = $self->{st}{tokens}{$token} or return;
    return unless $t->{is_active};
    my $u = $self->user($t->{user_id}) or return;
    return if $u->{delete_at};
    return $u;
}

# A REST route: session, payload limit, the handler, and its AppError as
# handleContextError writes it.
sub handle {
    my ($self, $req, $handler, $flags) = @_;
    return $self->wrap_plain($req, sub {
        my ($h) = @_;
        my $ctx = { rid => $h->{'X-Request-Id'}, token => _token($req) };
        my @out = eval {
            $ctx->{user} = $self->session_user($ctx->{token});
            if (!$flags->{public} && !$ctx->{user}) {
                app_error(401, 'api.context.session_expired.app_error',
                          detail => defined $ctx->{token} ? "token=$ctx->{token}" : 'UserRequired');
            }
            # http.MaxBytesReader(MaximumPayloadSizeBytes + bytes.MinRead); the
            # file routes check MaxFileSize themselves, with their own error ids
            app_error(413, 'api.context.request_body_too_large.app_error')
                if !$flags->{file_api} && $req->body_length > $self->{o}{max_payload} + 512;
            $handler->($self, $req, $ctx);
        };
        if (my $e = $@) {
            die $e unless blessed $e && $e->isa('Ferry::Mattermost::AppError');
            return $self->render_error($e, $ctx->{rid});
        }
        return @out;
    });
}

sub render_error {
    my ($self, $e, $rid) = @_;
    return ($e->{status}, {
        id => $e->{id},
        message => error_message($e->{id}, $e->{params}),
        detailed_error => $self->{o}{developer} ? $e->{detail} : '',
        request_id => $rid,
        status_code => 0 + $e->{status},
    }, { 'Content-Type' => 'application/json' });
}

# A plugin route: the server sets Mattermost-User-ID from a valid token
# (and drops one the client sent), then the plugin answers in its own
# {"error": ...} form.
sub handle_plugin {
    my ($self, $req, $handler) = @_;
    return $self->wrap_plain($req, sub {
        return (404, "404 page not found\n", { 'Content-Type' => 'text/plain; charset=utf-8' })
            unless $self->{o}{plugin};
        my $user = $self->session_user(_token($req));
        # RequireAdminAuth of the plugin
        return (401, { error => 'Not authorized' }) unless $user;
        return (403, { error => 'Admin required' }) unless $self->is_admin($user);
        my @out = eval { $handler->($self, $req, { user => $user }) };
        if (my $e = $@) {
            die $e unless blessed $e && $e->isa('Ferry::Mattermost::AppError');
            # the plugin answers an AppError from the plugin API as 500 {error: appErr.Error()}
            return (500, { error => app_error_text($e) });
        }
        return @out;
    });
}

# AppError.Error(): "Where: Message, DetailedError"
sub app_error_text {
    my ($e) = @_;
    my $s = ($e->{where} // '') . ': ' . error_message($e->{id}, $e->{params});
    $s .= ', ' . $e->{detail} if ($e->{detail} // '') ne '';
    return $s;
}

# ------------------------------------------------------------------ state

sub state_dump {
    my ($self) = @_;
    my $st = $self->{st};
    my %out;
    for my $table (keys %$st) {
        $out{$table} = [ map { my %r = %$_; delete $r{password}; \%r }
                         sort { $a->{seq} <=> $b->{seq} } values %{ $st->{$table} } ];
    }
    $out{admin_id} = $self->{admin_id};
    $out{admin_token} = $self->{admin_token};
    $out{team_id} = $self->{team}{id};
    $out{plugin} = $self->{o}{plugin} ? JSON::PP::true : JSON::PP::false;
    return \%out;
}

1;
