package Ferry::Mattermost;

# A Mattermost server for the integration tests, as routes on a Ferry::Peer:
# the REST v4 subset a Slack -> Mattermost migration uses, the mm-importer
# plugin's routes, and bulk import (uploads, import_process jobs), with the
# server's paths, status codes, AppError JSON and error ids, so that a
# client tested against it is refused what the real server refuses.
#
#   my $mm = Ferry::Mattermost->new($t, latency => 0.005)->start;
#   HTTP::Tiny->new->get($mm->url . '/api/v4/users/me',
#                        { headers => { Authorization => 'Bearer ' . $mm->admin_token } });
#   my @posts = $mm->posts;              # the state, read from the peer process
#
# The rules were read from the server's source (github.com/mattermost/
# mattermost, server/, as stored in the code index in 2025, release 10/11
# era) and the plugin's (github.com/insoln/slack-mm2, infra/plugin at HEAD
# d0727f6):
#   public/model/utils.go      AppError JSON (request_id, status_code
#                              omitempty), NewId alphabet, IsValidEmail,
#                              IsValidChannelIdentifier, reserved names
#   public/model/user.go       User.IsValid/PreSave: username rules and the
#                              restricted names, email <= 128, auth_data
#                              <= 128, auth_data_type, auth_data_pwd,
#                              nickname/first/last <= 64 runes, position
#                              <= 128, locale <= 5, SanitizeInput
#   public/model/channel.go    Channel.IsValid, ChannelGroupMin/MaxUsers
#   public/model/post.go       Post.IsValid: PostMessageMaxRunesV2 = 16383,
#                              PostFileidsMaxRunes = 300 (150 in older
#                              servers: 5 ids), props <= 800000 runes, types
#   public/model/reaction.go, emoji.go   name rules, EmojiNameMaxLength 64
#   channels/web/handlers.go, web/context.go   session_expired (401),
#                              invalid_body_param / invalid_url_param (400),
#                              detailed_error wiped unless developer mode,
#                              MaximumPayloadSizeBytes via MaxBytesReader
#   channels/app/ratelimit.go  429 "limit exceeded", X-RateLimit-Limit,
#                              -Remaining, -Reset (seconds), Retry-After;
#                              throttled rate.go (v2): the GCRA it uses
#   channels/api4/post.go, app/post.go   createPost: user_id forced,
#                              create_at kept for manage_system only, root
#                              checks, archived channel, files attached by
#                              store AttachToPost (sqlstore/file_info_store.go:
#                              PostId = '' AND CreatorId IN (author,
#                              'nouser')), the others silently dropped
#   channels/api4/reaction.go, app/reaction.go   user_id == session (403),
#                              emoji looked up before the name regex,
#                              archived channel 403, the upsert
#   channels/api4/emoji.go, app/emoji.go   501 when disabled, 413 over
#                              MaxEmojiFileSize = 512 KiB, other_user 403,
#                              duplicate 400, image.DecodeConfig, 1028 px
#   channels/api4/channel.go, app/channel.go   create, direct (2 ids, the
#                              caller one of them unless manage_system),
#                              group (3..8, caller added), members, archive
#   channels/app/user.go, sqlstore/user_store.go, the schema's
#                              users_authdata_key UNIQUE (authdata): email
#                              and username duplicates are 400, an
#                              auth_data duplicate is a 500
#   channels/api4/upload.go, app/upload.go, jobs/import_process/worker.go
#   channels/app/plugin_api.go  GetChannelByName(teamID, name, ...),
#                              CreatePost -> CreatePostMissingChannel
#   i18n/en.json               the messages
# mattermost-slack.md (section 1) and slack-mm2-seed.md (section 6) in the
# shared reference notes summarise the same facts. What the emulator does
# not do, or does differently, is listed in the README's Tests section.

use strict;
use warnings;

use Carp qw(croak);
use HTTP::Tiny;
use JSON::PP;

use Ferry::Peer;
use Ferry::Mattermost::Model;
use Ferry::Mattermost::Server;

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

# Options: name (the peer's, default "mattermost"), latency (seconds every
# call waits, e.g. 0.005 for the benchmark), journal (0: none, see
# Ferry::Peer), and those of
# Ferry::Mattermost::Server (%DEFAULTS there): seed, admin_username,
# admin_email, admin_token, team_name, team_display_name, users, plugin,
# max_file_size, max_payload, emoji_max_bytes, custom_emoji,
# enable_file_attachments, file_ids_max_runes, post_max_runes,
# reaction_limit, password_min_length, open_server, developer, rate_limit
# ({per_sec, max_burst, vary_by_user}), job_step, system_emoji.
sub new {
    my ($class, $t, %opt) = @_;
    my $name = delete $opt{name} // 'mattermost';
    my $latency = delete $opt{latency} // 0;
    my $journal = delete $opt{journal} // 1;
    $opt{data_dir} = $t->dir . "/mm-$name";
    my $server = Ferry::Mattermost::Server->new(%opt);
    my $peer = Ferry::Peer->new($t, name => $name, latency => $latency, journal => $journal);
    $server->install($peer);
    return bless { t => $t, server => $server, peer => $peer }, $class;
}

sub start { $_[0]{peer}->start; $_[0] }
sub stop { $_[0]{peer}->stop }
sub peer { $_[0]{peer} }
sub url { $_[0]{peer}->url }
sub port { $_[0]{peer}->port }

# Known before start: the start state is made in the test process.
sub admin_token { $_[0]{server}{admin_token} }
sub admin_id { $_[0]{server}{admin_id} }
sub team_id { $_[0]{server}{team}{id} }
sub team_name { $_[0]{server}{team}{name} }

# The peer's faults, journal and latency, for the scripted failures.
sub fault { my $self = shift; $self->{peer}->fault(@_) }
sub clear_faults { my $self = shift; $self->{peer}->clear_faults(@_) }
sub journal { my $self = shift; $self->{peer}->journal(@_) }
sub latency { my $self = shift; $self->{peer}->latency(@_) }

# ------------------------------------------------------------------ state

# The whole state, read from the peer process (GET /__mm/state): a hash of
# tables (users, tokens, teams, team_members, channels, channel_members,
# posts, files, reactions, emoji, uploads, jobs, images, imports), each an
# array in creation order, plus admin_id, admin_token, team_id, plugin.
sub state {
    my ($self) = @_;
    my $res = HTTP::Tiny->new(timeout => 30)->get($self->url . '/__mm/state');
    croak "GET /__mm/state: $res->{status} $res->{content}" unless $res->{success};
    return $JSON->decode($res->{content});
}

for my $table (qw(users tokens teams team_members channels channel_members posts files
                  reactions emoji uploads jobs images imports)) {
    no strict 'refs';
    *$table = sub {
        my ($self, %filter) = @_;
        my @rows = @{ $self->state->{$table} };
        for my $k (keys %filter) {
            my $want = $filter{$k};
            @rows = grep { defined $_->{$k} && (ref $want eq 'Regexp' ? $_->{$k} =~ $want
                                                                     : $_->{$k} eq $want) } @rows;
        }
        return @rows;
    };
}

# One row by its fields: $mm->user(username => 'ana'), $mm->channel(name => 'general')
for my $one ([user => 'users'], [team => 'teams'], [channel => 'channels'], [post => 'posts'],
             [file => 'files'], [job => 'jobs'], [emoji_named => 'emoji']) {
    my ($method, $table) = @$one;
    no strict 'refs';
    *$method = sub {
        my ($self, @filter) = @_;
        @filter = (id => $filter[0]) if @filter == 1;
        my @rows = $self->$table(@filter);
        return $rows[0];
    };
}

# An active token of a user (the seeded ones, or made by the API)
sub token_for {
    my ($self, $username) = @_;
    my $st = $self->state;
    my ($u) = grep { $_->{username} eq $username } @{ $st->{users} } or return;
    my ($t) = grep { $_->{user_id} eq $u->{id} && $_->{is_active} } @{ $st->{tokens} };
    return $t && $t->{token};
}

# A call to the emulator for a test's own set-up:
# $mm->api(POST => '/api/v4/users', $token, { ... }) returns
# { status, json, content, headers }.
sub api {
    my ($self, $method, $path, $token, $data) = @_;
    my %h;
    $h{Authorization} = "Bearer $token" if defined $token;
    my %req = (headers => \%h);
    if (defined $data) {
        $h{'Content-Type'} = 'application/json';
        $req{content} = $JSON->encode($data);
    }
    my $res = HTTP::Tiny->new(timeout => 30, keep_alive => 0)->request($method, $self->url . $path, \%req);
    $res->{json} = eval { $JSON->decode($res->{content}) };
    return $res;
}

1;
