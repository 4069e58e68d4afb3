package Ferry::Mattermost::Plugin;

# The mm-importer plugin of insoln/slack-mm2 (infra/plugin/server/api.go
# at HEAD d0727f6), under /plugins/mm-importer/api/v1/. Each route does what
# that version does, including what it gets wrong: it calls the plugin
# API's GetChannelByName(teamID, name, ...) with the two arguments swapped,
# so /channel never finds an existing channel and the second call for the
# same name fails with the server's "exists" error. The plugin API calls
# behave as the server's (plugin/api.go): CreatePost is
# CreatePostMissingChannel, which checks neither channel membership nor an
# archived channel, and adds props.from_plugin; UploadFile stores a file
# whose creator is "nouser", which any post can claim.

use strict;
use warnings;
use utf8;

use Encode ();
use JSON::PP;
use MIME::Base64 ();

use Ferry::Mattermost::Model qw(app_error normalize_plugin_channel_name);

sub routes {
    return (
        [GET  => '/api/v1/hello', sub { (200, 'Hello, world!', { 'Content-Type' => 'text/plain; charset=utf-8' }) }],
        [POST => '/api/v1/import', \&import_post],
        [POST => '/api/v1/reaction', \&import_reaction],
        [POST => '/api/v1/attachment', \&attachment],
        [POST => '/api/v1/attachment_multipart', \&attachment_multipart],
        [POST => '/api/v1/channel', \&create_or_get_channel],
        [POST => '/api/v1/channel/members', \&add_channel_members],
        [POST => '/api/v1/channel/archive', \&archive_channel],
        [POST => '/api/v1/dm', \&dm],
        [POST => '/api/v1/gdm', \&gdm],
    );
}

# json.Unmarshal into the request struct: a body that is not an object,
# or a field of the wrong JSON type, is "Invalid JSON"
sub decode {
    my ($req, %types) = @_;
    my $in = eval { JSON::PP->new->utf8->decode($req->body) };
    return unless ref $in eq 'HASH';
    for my $k (keys %types) {
        next unless defined $in->{$k};
        my $t = $types{$k};
        return if $t eq 'string' && (ref $in->{$k} || !_is_string($in->{$k}));
        return if $t eq 'int' && (ref $in->{$k} || $in->{$k} !~ /^-?\d+\z/);
        return if $t eq 'strings' && (ref $in->{$k} ne 'ARRAY' || grep { ref || !defined } @{ $in->{$k} });
        return if $t eq 'object' && ref $in->{$k} ne 'HASH';
    }
    return $in;
}

# whether JSON::PP decoded a value from a JSON string (not a number)
sub _is_string {
    my ($v) = @_;
    require B;
    my $flags = B::svref_2object(\$v)->FLAGS;
    return ($flags & B::SVp_POK()) && !($flags & (B::SVp_IOK() | B::SVp_NOK()));
}

sub bad { return (400, { error => $_[0] }) }

sub import_post {
    my ($s, $req, $ctx) = @_;
    my $in = decode($req, user_id => 'string', channel_id => 'string', message => 'string',
                    create_at => 'int', root_id => 'string', file_ids => 'strings', props => 'object')
        or return bad('Invalid JSON');
    return bad('user_id, channel_id, and message are required')
        if ($in->{user_id} // '') eq '' || ($in->{channel_id} // '') eq '' || ($in->{message} // '') eq '';
    # PluginAPI.CreatePost -> CreatePostMissingChannel -> CreatePost
    my $ch = $s->channel($in->{channel_id})
        or app_error(404, 'app.channel.get.existing.app_error', where => 'CreatePostMissingChannel');
    $s->user($in->{user_id})
        or app_error(404, 'app.user.missing_account.const', where => 'CreatePost');
    my $p = Ferry::Mattermost::Posts::post_input($in);
    $p->{user_id} = $in->{user_id};
    $p->{props} = { %{ $p->{props} }, from_plugin => 'true' };
    my $post = Ferry::Mattermost::Posts::create_post($s, $ch, $p);
    return (200, { post_id => $post->{id} });
}

sub import_reaction {
    my ($s, $req, $ctx) = @_;
    my $in = decode($req, user_id => 'string', post_id => 'string', emoji_name => 'string',
                    create_at => 'int')
        or return bad('Invalid JSON');
    return bad('user_id, post_id, and emoji_name are required')
        if grep { ($in->{$_} // '') eq '' } qw(user_id post_id emoji_name);
    # PluginAPI.AddReaction -> SaveReactionForPost, no session checks
    Ferry::Mattermost::Posts::save_reaction($s, {
        user_id => $in->{user_id}, post_id => $in->{post_id}, emoji_name => $in->{emoji_name},
        create_at => $in->{create_at} // 0 });
    return (200, {});
}

# PluginAPI.UploadFile -> app.UploadFile
sub upload_file {
    my ($s, $data, $channel_id, $name) = @_;
    my $ch = $s->channel($channel_id)
        or app_error(400, 'api.file.upload_file.incorrect_channelId.app_error', where => 'UploadFile',
                     params => { channelId => $channel_id });
    return Ferry::Mattermost::Posts::store_file($s, $ch, 'nouser', $name, $data);
}

sub attachment {
    my ($s, $req, $ctx) = @_;
    my $in = decode($req, channel_id => 'string', filename => 'string', content_base64 => 'string',
                    user_id => 'string')
        or return bad('Invalid JSON');
    return bad('channel_id, filename and content_base64 are required')
        if grep { ($in->{$_} // '') eq '' } qw(channel_id filename content_base64);
    my $b64 = $in->{content_base64};
    return bad('Invalid base64 content')
        unless $b64 =~ m{^[A-Za-z0-9+/]*={0,2}\z} && length($b64) % 4 == 0;
    my $f = upload_file($s, MIME::Base64::decode_base64($b64), $in->{channel_id}, $in->{filename});
    return (200, { file_id => $f->{id} });
}

sub attachment_multipart {
    my ($s, $req, $ctx) = @_;
    my $parts = $s->multipart($req) or return bad('Invalid multipart form');
    my $channel_id = Ferry::Mattermost::Server::form_value($parts, 'channel_id') // '';
    return bad('channel_id is required') if $channel_id eq '';
    my ($file) = grep { ($_->{name} // '') eq 'file' && defined $_->{filename} } @$parts;
    return bad('file is required') unless $file;
    my $name = Ferry::Mattermost::Server::form_value($parts, 'filename') // '';
    $name = $file->{filename} if $name eq '';
    $name = 'upload.bin' if $name eq '';
    my $f = upload_file($s, $file->{data}, $channel_id, $name);
    return (200, { file_id => $f->{id} });
}

sub create_or_get_channel {
    my ($s, $req, $ctx) = @_;
    my $in = decode($req, map { $_ => 'string' } qw(team_id name display_name type header purpose))
        or return bad('Invalid JSON');
    return bad('team_id, name and valid type are required')
        if ($in->{team_id} // '') eq '' || ($in->{name} // '') eq ''
           || ($in->{type} // '') !~ /^[OP]\z/;
    my $name = normalize_plugin_channel_name($in->{name}, sub { $s->id });
    # p.API.GetChannelByName(name, req.TeamID, false): the API's parameters
    # are (teamID, name, includeDeleted), so this looks for a channel called
    # <team id> on a team whose id is <name>
    if (my $ch = $s->channel_by_name($name, $in->{team_id}, 0)) {
        return (200, { channel_id => $ch->{id} });
    }
    # PluginAPI.CreateChannel -> app.CreateChannel(channel, addMember=false)
    my $ch = Ferry::Mattermost::Channels::save_channel($s, {
        team_id => $in->{team_id}, name => $name, display_name => $in->{display_name} // '',
        type => $in->{type}, header => $in->{header}, purpose => $in->{purpose}, creator_id => '' });
    return (200, { channel_id => $ch->{id} });
}

sub add_channel_members {
    my ($s, $req, $ctx) = @_;
    my $in = decode($req, channel_id => 'string', user_ids => 'strings')
        or return bad('Invalid JSON');
    return bad('channel_id and user_ids are required')
        if ($in->{channel_id} // '') eq '' || !@{ $in->{user_ids} // [] };
    my @added;
    for my $uid (@{ $in->{user_ids} }) {
        next if $uid eq '';
        # PluginAPI.AddChannelMember: GetChannel, then AddChannelMember;
        # the plugin only logs a failure
        my $ok = eval {
            my $ch = $s->channel($in->{channel_id})
                or app_error(404, 'app.channel.get.existing.app_error', where => 'GetChannel');
            Ferry::Mattermost::Channels::add_user_to_channel($s, $ch, $uid);
            1;
        };
        die $@ if !$ok && !(ref $@ && ref($@) eq 'Ferry::Mattermost::AppError');
        push @added, $uid if $ok;
    }
    # `json:"added,omitempty"`
    return (200, @added ? { added => \@added } : {});
}

sub archive_channel {
    my ($s, $req, $ctx) = @_;
    my $in = decode($req, channel_id => 'string') or return bad('Invalid JSON');
    return bad('channel_id is required') if ($in->{channel_id} // '') eq '';
    my $ch = $s->channel($in->{channel_id})
        or app_error(404, 'app.channel.get.existing.app_error', where => 'GetChannel');
    Ferry::Mattermost::Channels::archive($s, $ch);
    return (200, {});
}

sub dm {
    my ($s, $req, $ctx) = @_;
    my $in = decode($req, user_ids => 'strings') or return bad('Invalid JSON');
    return bad('user_ids must contain exactly 2 ids') unless @{ $in->{user_ids} // [] } == 2;
    my $ch = Ferry::Mattermost::Channels::direct_channel($s, @{ $in->{user_ids} });
    return (200, { channel_id => $ch->{id} });
}

sub gdm {
    my ($s, $req, $ctx) = @_;
    my $in = decode($req, user_ids => 'strings') or return bad('Invalid JSON');
    return bad('user_ids must contain at least 3 ids') unless @{ $in->{user_ids} // [] } >= 3;
    # PluginAPI.GetGroupChannel -> CreateGroupChannel(userIds, "")
    my $ch = Ferry::Mattermost::Channels::group_channel($s, @{ $in->{user_ids} });
    return (200, { channel_id => $ch->{id} });
}

1;
