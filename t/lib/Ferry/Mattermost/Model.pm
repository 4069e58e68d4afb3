package Ferry::Mattermost::Model;

# Mattermost's model rules, as the emulator applies them: ids, the
# AppError JSON and its English messages, the validation of users,
# channels, posts, reactions and custom emoji, image sniffing, and the
# GCRA rate limiter of the throttled library the server uses. Sources are
# listed in Ferry/Mattermost.pm; each rule names the Go function it follows.

use strict;
use warnings;
use utf8;

use Compress::Raw::Zlib ();
use Digest::SHA qw(sha1);
use Exporter 'import';
use JSON::PP;

use Ferry::Peer ();
use Time::HiRes ();

our @EXPORT_OK = qw(new_id is_valid_id now_ms runes app_error error_message
                    validate_user is_valid_username is_valid_email is_valid_locale
                    is_valid_channel_name validate_channel validate_post_fields
                    is_valid_emoji_name reaction_name_ok image_info
                    normalize_plugin_channel_name group_channel_name dm_channel_name
                    json_runes);

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
# characters, not bytes: what json_runes counts
my $RUNES_JSON = Ferry::Peer::json_codec();

# ------------------------------------------------------------------ ids

# model.NewId: a UUID's 16 bytes in base32 with this alphabet, no padding,
# 26 characters. Here the 16 bytes are SHA-1 of a seed and a counter, so
# the same run of requests gives the same ids.
my @ALPHABET = split //, 'ybndrfg8ejkmcpqxot1uwisza345h769';
# each 5 bits as its letter
my %LETTER = map { (sprintf('%05b', $_) => $ALPHABET[$_]) } 0 .. 31;

sub new_id {
    my ($seed, $n) = @_;
    # 128 bits and two zero bits: 26 letters
    my $bits = unpack('B130', substr(sha1("$seed:$n"), 0, 16) . "\0");
    return join '', @LETTER{ unpack('(A5)26', $bits) };
}

# model.IsValidId: 26 letters or digits
sub is_valid_id { defined $_[0] && !ref $_[0] && $_[0] =~ /^[A-Za-z0-9]{26}\z/ }

sub now_ms { int(Time::HiRes::time() * 1000) }

# utf8.RuneCountInString of a Perl (character) string
sub runes { length($_[0] // '') }

# utf8.RuneCount of the JSON Go would write for a value
sub json_runes {
    my ($v) = @_;
    return length $RUNES_JSON->encode($v);
}

# ------------------------------------------------------------------ errors

# The English text of the ids the emulator answers, from server/i18n/en.json;
# an id without a text here answers with the id as its message, which is
# what the server does when a translation is missing.
my %MESSAGE = (
    'api.context.session_expired.app_error' => 'Invalid or expired session, please login again.',
    'api.context.permissions.app_error' => 'You do not have the appropriate permissions.',
    'api.context.request_body_too_large.app_error' => 'Unable to process request. Request body too large.',
    'api.channel.restore_channel.restored.app_error' => 'Unable to unarchive channel. The channel is not archived.',
    'api.channel.restore_channel.unarchive.app_error' => 'Unable to unarchive channel.',
    'api.emoji.create.duplicate.app_error' => 'Unable to create emoji. Another emoji with the same name already exists.',
    'api.emoji.create.other_user.app_error' => 'Invalid user id.',
    'api.emoji.create.parse.app_error' => 'Unable to create emoji. Could not understand request.',
    'api.emoji.create.too_large.app_error' => 'Unable to create emoji. Image must be less than 512 KiB in size.',
    'api.emoji.disabled.app_error' => 'Custom emoji have been disabled by the system admin.',
    'api.emoji.upload.image.app_error' => 'Unable to create emoji. File must be a PNG, JPEG, or GIF.',
    'api.emoji.upload.large_image.too_large.app_error' => 'Unable to create emoji. Image must be smaller than {{.MaxWidth}} by {{.MaxHeight}}.',
    'api.file.attachments.disabled.app_error' => 'File attachments have been disabled on this server.',
    'api.file.upload_file.too_large_detailed.app_error' => 'Unable to upload file {{.Filename}}. {{.Length}} bytes exceeds the maximum allowed {{.Limit}} bytes.',
    'api.post.create_post.can_not_post_to_deleted.error' => 'Can not post to deleted channel.',
    'api.post.create_post.channel_root_id.app_error' => 'Invalid ChannelId for RootId parameter.',
    'api.post.create_post.root_id.app_error' => 'Invalid RootId parameter.',
    'api.post.patch_post.can_not_update_post_in_deleted.error' => 'Can not update a post in a deleted channel.',
    'api.post.update_post.permissions_details.app_error' => 'Already deleted id={{.PostId}}.',
    'api.post.update_post.system_message.app_error' => 'Unable to update system message.',
    'app.emoji.get_by_name.no_result' => "We couldn\x{2019}t find the emoji.",
    'app.emoji.get.no_result' => "We couldn\x{2019}t find the emoji.",
    'app.job.get.app_error' => 'Unable to get the job.',
    'app.user.save.username_exists.app_error' => 'An account with that username already exists.',
    # these two were not read in en.json (the username one was, from a
    # client's fixture): the same wording, and "already exists", which the
    # later mm-importer matches on
    'app.user.save.email_exists.app_error' => 'An account with that email already exists.',
    'store.sql_channel.save_channel.exists.app_error' => 'A channel with that name already exists on the same team.',
    'model.post.is_valid.file_ids.app_error' => 'Invalid file ids. Note that uploads are limited to 10 files maximum. Please use additional posts for more files.',
    'model.post.is_valid.message_length.app_error' => 'Post Message property is longer than the maximum permitted length.',
    'model.post.is_valid.props.app_error' => 'Invalid props.',
    'model.post.is_valid.root_id.app_error' => 'Invalid root id.',
    'model.post.is_valid.type.app_error' => 'Invalid type.',
    'model.job.is_valid.type.app_error' => 'Invalid job type.',
    'api.payload.parse.error' => 'An error occurred while parsing the payload.',
    'api.file.upload_file.incorrect_channelId.app_error' => 'Unable to upload the file. Incorrect channel ID: {{.channelId}}',
    'api.post.update_post.permissions_time_limit.app_error' => 'Post edit is only allowed for {{.timeLimit}} seconds. Please ask your System Administrator for details.',
    'app.import.bulk_import.json_decode.error' => 'JSON decode of line failed.',
    'app.import.bulk_import.unsupported_version.error' => 'Incorrect or missing version in the data import file. Make sure version is the first object in your import file and try again.',
    'app.import.import_line.unknown_line_type.error' => 'Import data line has unknown type "{{.Type}}".',
    'app.import.import_post.channel_not_found.error' => 'Error importing post. Channel with name "{{.ChannelName}}" could not be found.',
    'app.import.import_post.user_not_found.error' => 'Error importing post. User with username "{{.Username}}" could not be found.',
    'app.import.import_channel.team_not_found.error' => 'Error importing channel. Team with name "{{.TeamName}}" could not be found.',
    'app.import.validate_channel_import_data.display_name_length.error' => 'Channel display_name is not within permitted length constraints.',
    'app.import.validate_channel_import_data.header_length.error' => 'Channel header is too long.',
    'app.import.validate_channel_import_data.name_characters.error' => 'Channel name contains invalid characters.',
    'app.import.validate_channel_import_data.name_length.error' => 'Channel name is too long.',
    'app.import.validate_channel_import_data.name_missing.error' => 'Missing required channel property: name',
    'app.import.validate_channel_import_data.purpose_length.error' => 'Channel purpose is too long.',
    'app.import.validate_channel_import_data.team_missing.error' => 'Missing required channel property: team',
    'app.import.validate_channel_import_data.type_invalid.error' => 'Channel type is invalid.',
    'app.import.validate_channel_import_data.type_missing.error' => 'Missing required channel property: type.',
    'app.import.validate_direct_channel_import_data.members_required.error' => 'Missing required direct channel property: members',
    'app.import.validate_direct_channel_import_data.members_too_few.error' => 'Direct channel members list contains too few items',
    'app.import.validate_direct_channel_import_data.members_too_many.error' => 'Direct channel members list contains too many items',
    'app.import.validate_direct_post_import_data.channel_members_required.error' => 'Missing required direct post property: channel_members',
    'app.import.validate_direct_post_import_data.channel_members_too_few.error' => 'Direct post channel members list contains too few items',
    'app.import.validate_direct_post_import_data.channel_members_too_many.error' => 'Direct post channel members list contains too many items',
    'app.import.validate_direct_post_import_data.create_at_missing.error' => 'Missing required direct post property: create_at',
    'app.import.validate_direct_post_import_data.create_at_zero.error' => 'CreateAt must be greater than 0',
    'app.import.validate_direct_post_import_data.message_length.error' => 'Message is too long',
    'app.import.validate_direct_post_import_data.message_missing.error' => 'Missing required direct post property: message',
    'app.import.validate_direct_post_import_data.user_missing.error' => 'Missing required direct post property: user',
    'app.import.validate_post_import_data.channel_missing.error' => 'Missing required Post property: Channel.',
    'app.import.validate_post_import_data.create_at_missing.error' => 'Missing required Post property: create_at.',
    'app.import.validate_post_import_data.create_at_zero.error' => 'Post CreateAt property must not be zero.',
    'app.import.validate_post_import_data.message_length.error' => 'Post Message property is longer than the maximum permitted length.',
    'app.import.validate_post_import_data.message_missing.error' => 'Missing required Post property: Message.',
    'app.import.validate_post_import_data.team_missing.error' => 'Missing required Post property: Team.',
    'app.import.validate_post_import_data.user_missing.error' => 'Missing required Post property: User.',
    'app.import.validate_reaction_import_data.create_at_missing.error' => 'Missing required Reaction property: create_at.',
    'app.import.validate_reaction_import_data.emoji_name_invalid.error' => 'Reaction EmojiName property is invalid. It must be 1 to 64 ASCII letters and numbers, +, -, or _.',
    'app.import.validate_reaction_import_data.emoji_name_missing.error' => 'Missing required Reaction property: EmojiName.',
    'app.import.validate_reaction_import_data.user_missing.error' => 'Missing required Reaction property: User.',
    'app.import.validate_reply_import_data.create_at_missing.error' => 'Missing required Reply property: create_at.',
    'app.import.validate_reply_import_data.message_length.error' => 'Reply Message property is longer than the maximum permitted length.',
    'app.import.validate_reply_import_data.message_missing.error' => 'Missing required Reply property: Message.',
    'app.import.validate_reply_import_data.user_missing.error' => 'Missing required Reply property: User.',
    'app.import.validate_team_import_data.display_name_missing.error' => 'Missing required team property: display_name.',
    'app.import.validate_team_import_data.name_missing.error' => 'Missing required team property: name.',
    'app.import.validate_team_import_data.type_missing.error' => 'Missing required team property: type.',
    'app.import.validate_user_import_data.auth_data_and_password.error' => 'User AuthData and Password are mutually exclusive.',
    'app.import.validate_user_import_data.auth_data_and_service_dependency.error' => 'User AuthService and AuthData are mutually inclusive.',
    'app.import.validate_user_import_data.email_length.error' => 'User email has an invalid length.',
    'app.import.validate_user_import_data.email_missing.error' => 'Missing required user property: email.',
    'app.import.validate_user_import_data.username_invalid.error' => 'Username is not valid.',
    'app.import.validate_user_import_data.username_missing.error' => 'Missing required user property: username.',
);

sub error_message {
    my ($id, $params) = @_;
    my $m = $MESSAGE{$id} // $id;
    $m =~ s/\{\{\.(\w+)\}\}/$params && defined $params->{$1} ? $params->{$1} : ''/ge;
    return $m;
}

# An AppError to throw: the handler wrapper renders it as the server does
# (handleContextError: {id, message, detailed_error, request_id,
# status_code}, detailed_error wiped unless developer mode).
sub app_error {
    my ($status, $id, %o) = @_;
    die bless { status => $status, id => $id, detail => $o{detail} // '',
                params => $o{params}, where => $o{where} // '' }, 'Ferry::Mattermost::AppError';
}

# ------------------------------------------------------------------ users

my %RESTRICTED_USERNAME = map { $_ => 1 } qw(all channel matterbot system);

# model.IsValidUsername: 1..64 bytes of [a-z0-9.-_], not a restricted name
sub is_valid_username {
    my ($s) = @_;
    return 0 unless defined $s && length $s >= 1 && length $s <= 64;
    return 0 unless $s =~ /^[a-z0-9.\-_]+\z/;
    return !$RESTRICTED_USERNAME{$s};
}

# model.IsValidEmail: lower case, and net/mail.ParseAddress accepts it with
# no display name. This is the addr-spec part of that parser (dot-atom or
# quoted local part, dot-atom or literal domain), plus "<addr-spec>", which
# Go also accepts with an empty name.
my $ATEXT = qr/[A-Za-z0-9!#\$%&'*+\/=?^_`{|}~\-]/;
my $DOT_ATOM = qr/$ATEXT+(?:\.$ATEXT+)*/;
my $QUOTED = qr/"(?:[^"\\\r\n]|\\.)*"/;
my $ADDR = qr/(?:$DOT_ATOM|$QUOTED)\@(?:$DOT_ATOM|\[[^\[\]\\\s]*\])/;

sub is_valid_email {
    my ($e) = @_;
    return 0 unless defined $e && length $e;
    return 0 if lc($e) ne $e;
    return $e =~ /^\s*(?:$ADDR|<$ADDR>)\s*\z/ ? 1 : 0;
}

# model.IsValidLocale: empty, or at most 5 bytes that golang.org/x/text
# language.Parse accepts; here the well-formed shapes of that length
# (xx, xxx, xx-YY / xx_YY). The parser also refuses well-formed codes it
# does not know, which this does not.
sub is_valid_locale {
    my ($l) = @_;
    return 1 if !defined $l || $l eq '';
    return 0 if length $l > 5;
    return $l =~ /^[A-Za-z]{2,3}(?:[-_](?:[A-Za-z]{2}|[0-9]{3}))?\z/ ? 1 : 0;
}

# User.IsValid, in its order, on a user PreSave already normalised; returns
# the field whose model.user.is_valid.<field>.app_error applies, or undef.
sub validate_user {
    my ($u) = @_;
    return 'username' unless is_valid_username($u->{username});
    my $email = $u->{email} // '';
    return 'email' if length($email) > 128 || $email eq '' || !is_valid_email($email);
    return 'nickname' if runes($u->{nickname}) > 64;
    return 'position' if runes($u->{position}) > 128;
    return 'first_name' if runes($u->{first_name}) > 64;
    return 'last_name' if runes($u->{last_name}) > 64;
    my $ad = $u->{auth_data};
    return 'auth_data' if defined $ad && length $ad > 128;
    return 'auth_data_type' if defined $ad && $ad ne '' && ($u->{auth_service} // '') eq '';
    return 'auth_data_pwd' if ($u->{password} // '') ne '' && defined $ad && $ad ne '';
    return 'locale' unless is_valid_locale($u->{locale});
    return 'timezone_limit' if $u->{timezone} && json_runes($u->{timezone}) > 256;
    return 'roles_limit' if length($u->{roles} // '') > 256;
    return;
}

# ------------------------------------------------------------------ channels

# model.IsValidChannelIdentifier (validSimpleAlphaNum, at least 1 byte)
sub is_valid_channel_name {
    my ($s) = @_;
    return defined $s && length $s >= 1
        && $s =~ /^[a-z0-9]+(?:[a-z\-_0-9]+|(?:__)?)[a-z0-9]*\z/ ? 1 : 0;
}

# Channel.IsValid, in its order; returns the error id or undef
sub validate_channel {
    my ($c) = @_;
    return 'model.channel.is_valid.display_name.app_error' if runes($c->{display_name}) > 64;
    return 'model.channel.is_valid.1_or_more.app_error' unless is_valid_channel_name($c->{name});
    return 'model.channel.is_valid.type.app_error' unless ($c->{type} // '') =~ /^(?:O|P|D|G)\z/;
    return 'model.channel.is_valid.header.app_error' if runes($c->{header}) > 1024;
    return 'model.channel.is_valid.purpose.app_error' if runes($c->{purpose}) > 250;
    return 'model.channel.is_valid.creator_id.app_error' if length($c->{creator_id} // '') > 26;
    if ($c->{type} ne 'D' && $c->{type} ne 'G') {
        my @ids = split /__/, $c->{name}, -1;
        return 'model.channel.is_valid.name.app_error'
            if $c->{name} =~ /^[a-f0-9]{40}\z/
               || (@ids == 2 && is_valid_id($ids[0]) && is_valid_id($ids[1]));
    }
    return;
}

# model.GetDMNameFromIds / GetGroupNameFromUserIds
sub dm_channel_name { join '__', sort @_ }

sub group_channel_name {
    require Digest::SHA;
    return Digest::SHA::sha1_hex(join '', sort @_);
}

# normalizeChannelName of the mm-importer plugin (insoln/slack-mm2 HEAD
# d0727f6): ASCII letters lower-cased, digits kept, '-', '_', ' ', '.' to
# '-', all else dropped; runs of '-' collapsed and trimmed; "" becomes
# "ch-" and 6 id characters, 1 character gets "-" and 2; cut to 64.
sub normalize_plugin_channel_name {
    my ($name, $id_source) = @_;
    my $out = '';
    for my $ch (split //, $name // '') {
        if ($ch =~ /^[a-z0-9]\z/) { $out .= $ch }
        elsif ($ch =~ /^[A-Z]\z/) { $out .= lc $ch }
        elsif ($ch =~ /^[-_ .]\z/) { $out .= '-' }
    }
    $out =~ s/-+/-/g;
    $out =~ s/^-+//;
    $out =~ s/-+\z//;
    $out = 'ch-' . substr($id_source->(), 0, 6) if $out eq '';
    $out .= '-' . substr($id_source->(), 0, 2) if length $out < 2;
    return substr($out, 0, 64);
}

# ------------------------------------------------------------------ posts

my %POST_TYPES = map { $_ => 1 } ('', qw(system_generic system_join_leave system_auto_responder
    system_add_remove system_join_channel system_guest_join_channel system_leave_channel
    system_join_team system_leave_team system_add_to_channel system_add_guest_to_chan
    system_remove_from_channel system_move_channel system_add_to_team system_remove_from_team
    slack_attachment system_header_change system_purpose_change system_displayname_change
    system_convert_channel system_channel_deleted system_channel_restored
    system_change_chan_privacy add_bot_teams_channels reminder me system_wrangler
    system_gm_to_channel));

# Post.IsValid for the fields a client controls, in its order
sub validate_post_fields {
    my ($p, %lim) = @_;
    return 'model.post.is_valid.root_id.app_error'
        unless ($p->{root_id} // '') eq '' || is_valid_id($p->{root_id});
    return 'model.post.is_valid.message_length.app_error'
        if runes($p->{message}) > $lim{max_runes};
    my $type = $p->{type} // '';
    return 'model.post.is_valid.type.app_error'
        unless $POST_TYPES{$type} || $type =~ /^custom_/;
    return 'model.post.is_valid.file_ids.app_error'
        if json_runes($p->{file_ids} // []) > $lim{file_ids_max_runes};
    return 'model.post.is_valid.props.app_error'
        if json_runes($p->{props} // {}) > 800000;
    return;
}

# ------------------------------------------------------------------ emoji

# model.IsValidEmojiName: 1..64 bytes of [a-zA-Z0-9+_-], not a system emoji
sub is_valid_emoji_name {
    my ($name) = @_;
    return defined $name && length $name >= 1 && length $name <= 64
        && $name =~ /^[a-zA-Z0-9+_\-]+\z/ ? 1 : 0;
}

# Reaction.IsValid's name rule (which the server only reaches for names
# it found as an emoji first)
sub reaction_name_ok {
    my ($name) = @_;
    return defined $name && length $name >= 1 && length $name <= 64
        && $name =~ /^[a-zA-Z0-9\-+_]+\z/ ? 1 : 0;
}

# What image.DecodeConfig would see, from the magic bytes and the header:
# (format, width, height), or () when it is none of the formats the server
# registers (gif, jpeg, png, webp).
sub image_info {
    my ($data) = @_;
    return () unless defined $data && length $data >= 10;
    if (substr($data, 0, 8) eq "\x89PNG\r\n\x1a\n") {
        # png.DecodeConfig reads the IHDR chunk and checks its CRC
        return () unless length $data >= 33 && substr($data, 8, 8) eq "\0\0\0\x0dIHDR";
        return () unless unpack('N', substr($data, 29, 4))
                         == Compress::Raw::Zlib::crc32(substr($data, 12, 17));
        my ($w, $h) = unpack('NN', substr($data, 16, 8));
        return ('png', $w, $h);
    }
    if ($data =~ /^GIF8[79]a/) {
        my ($w, $h) = unpack('vv', substr($data, 6, 4));
        return ('gif', $w, $h);
    }
    if (substr($data, 0, 3) eq "\xff\xd8\xff") {
        # walk the segments to a start-of-frame marker
        my $i = 2;
        while ($i + 9 < length $data) {
            return () unless substr($data, $i, 1) eq "\xff";
            my $m = ord substr($data, $i + 1, 1);
            if ($m == 0xff) { $i++; next }
            if ($m >= 0xc0 && $m <= 0xcf && $m != 0xc4 && $m != 0xc8 && $m != 0xcc) {
                my ($h, $w) = unpack('nn', substr($data, $i + 5, 4));
                return ('jpeg', $w, $h);
            }
            my $len = unpack('n', substr($data, $i + 2, 2));
            $i += 2 + $len;
        }
        return ();
    }
    if (substr($data, 0, 4) eq 'RIFF' && substr($data, 8, 4) eq 'WEBP') {
        my $chunk = substr($data, 12, 4);
        if ($chunk eq 'VP8X' && length $data >= 30) {
            my @b = map { ord } split //, substr($data, 24, 6);
            return ('webp', 1 + ($b[0] | $b[1] << 8 | $b[2] << 16),
                            1 + ($b[3] | $b[4] << 8 | $b[5] << 16));
        }
        if ($chunk eq 'VP8 ' && length $data >= 30) {
            my ($w, $h) = unpack('vv', substr($data, 26, 4));
            return ('webp', $w & 0x3fff, $h & 0x3fff);
        }
        if ($chunk eq 'VP8L' && length $data >= 25) {
            my $b = unpack('V', substr($data, 21, 4));
            return ('webp', 1 + ($b & 0x3fff), 1 + (($b >> 14) & 0x3fff));
        }
        return ();
    }
    return ();
}

# ------------------------------------------------------------------ rate limiting

package Ferry::Mattermost::RateLimit;

# app/ratelimit.go: throttled's GCRARateLimiter with RateQuota{MaxRate:
# PerSec(n), MaxBurst: b}: emission interval 1/n s, tolerance (b+1)
# intervals, limit b+1. take returns (limited, limit, remaining,
# reset_after, retry_after), the times in seconds, retry_after -1 when
# allowed. Integer microseconds, as throttled counts in integer nanoseconds.

sub new {
    my ($class, %o) = @_;
    my $per_sec = $o{per_sec} || 10;
    my $burst = $o{max_burst} // 100;
    my $ei = int(1_000_000 / $per_sec);
    return bless { ei => $ei, dvt => $ei * ($burst + 1), limit => $burst + 1, tat => {} }, $class;
}

sub take {
    my ($self, $key, $now) = @_;
    $now = int(($now // Time::HiRes::time()) * 1_000_000);
    my $tat = $self->{tat}{$key};
    $tat = $now if !defined $tat || $tat < $now;
    my $new_tat = $tat + $self->{ei};
    my $allow_at = $new_tat - $self->{dvt};
    my ($limited, $ttl, $retry) = (0, undef, -1);
    if ($now < $allow_at) {
        $limited = 1;
        $retry = ($allow_at - $now) / 1e6;
        $ttl = $tat - $now;
    } else {
        $self->{tat}{$key} = $new_tat;
        $ttl = $new_tat - $now;
    }
    my $next = $self->{dvt} - $ttl;
    my $remaining = $next > -$self->{ei} ? int($next / $self->{ei}) : 0;
    return ($limited, $self->{limit}, $remaining, $ttl / 1e6, $retry);
}

1;
