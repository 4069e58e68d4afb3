package Ferry::Mattermost::Channels;

# Channels, their members, direct and group channels, archiving
# (api4/channel.go, app/channel.go, model/channel.go, store constants).

use strict;
use warnings;
use utf8;

use JSON::PP;

use Ferry::Mattermost::Model qw(is_valid_id now_ms app_error validate_channel
                                is_valid_channel_name dm_channel_name group_channel_name);

sub routes {
    return (
        [POST   => '/api/v4/channels', \&create_channel],
        [POST   => '/api/v4/channels/direct', \&create_direct],
        [POST   => '/api/v4/channels/group', \&create_group],
        [GET    => '/api/v4/channels/:channel_id', \&get_channel],
        [DELETE => '/api/v4/channels/:channel_id', \&delete_channel],
        [POST   => '/api/v4/channels/:channel_id/restore', \&restore_channel],
        [POST   => '/api/v4/channels/:channel_id/members', \&add_channel_member],
        [GET    => '/api/v4/teams/:team_id/channels/name/#channel_name', \&channel_by_name],
    );
}

# ChannelMember as SaveMember writes it; an existing member is returned as is
sub add_member {
    my ($s, $channel, $user) = @_;
    my $key = "$channel->{id}:$user->{id}";
    return $s->{st}{channel_members}{$key} //= {
        channel_id => $channel->{id}, user_id => $user->{id}, roles => '',
        last_viewed_at => 0, msg_count => 0, mention_count => 0, mention_count_root => 0,
        msg_count_root => 0, urgent_mention_count => 0,
        notify_props => { desktop => 'default', email => 'default', ignore_channel_mentions => 'default',
                          mark_unread => 'all', push => 'default', channel_auto_follow_threads => 'off' },
        last_update_at => now_ms(), scheme_guest => JSON::PP::false,
        scheme_user => JSON::PP::true, scheme_admin => JSON::PP::false, explicit_roles => '',
        seq => $s->next_seq,
    };
}

# app.CreateChannel -> store Save: Channel.PreSave, IsValid, the channel
# limit per team, then the (Name, TeamId) unique key
sub save_channel {
    my ($s, $c, %o) = @_;
    my %ch = (%$c, header => $c->{header} // '', purpose => $c->{purpose} // '',
              display_name => $c->{display_name} // '');
    if (my $id = validate_channel(\%ch)) {
        app_error(400, $id, where => 'Channel.IsValid');
    }
    # TeamSettings.MaxChannelsPerTeam, 2000 (limit id not read in the source)
    if ($ch{type} eq 'O' || $ch{type} eq 'P') {
        my $n = grep { $_->{team_id} eq $ch{team_id} && !$_->{delete_at}
                       && ($_->{type} eq 'O' || $_->{type} eq 'P') } values %{ $s->{st}{channels} };
        app_error(400, 'store.sql_channel.save_channel.limit.app_error', where => 'CreateChannel')
            if $n >= 2000;
    }
    # the model has no length limit on names; the column is varchar(64), and
    # the app turns the store's error into a 500 (id not read in the source)
    app_error(500, 'app.channel.create_channel.internal_error', where => 'CreateChannel',
              detail => 'value too long for type character varying(64)')
        if length $ch{name} > 64;
    app_error(400, 'store.sql_channel.save_channel.exists.app_error', where => 'CreateChannel')
        if $s->channel_by_name($ch{team_id}, $ch{name}, 1);
    return $s->insert_channel(\%ch);
}

sub create_channel {
    my ($s, $req, $ctx) = @_;
    my $in = $s->body_json($req, 'channel');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'channel' })
        unless ref $in eq 'HASH';
    my %c = map { $_ => (defined $in->{$_} && !ref $in->{$_} ? "$in->{$_}" : $in->{$_}) }
            qw(team_id name display_name type header purpose);
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'team_id' })
        if ($c{team_id} // '') eq '';
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'display_name' })
        if ($c{display_name} // '') eq '';
    my $type = $c{type} // '';
    unless ($s->is_admin($ctx->{user})) {
        my $perm = $type eq 'P' ? 'create_private_channel' : 'create_public_channel';
        $s->permission_error($ctx, $perm)
            if ($type eq 'O' || $type eq 'P') && !$s->team_member($c{team_id}, $ctx->{user}{id});
    }
    # CreateChannelWithUser refuses direct and group types (id not read in the source)
    app_error(400, 'api.channel.create_channel.direct_channel.app_error', where => 'CreateChannelWithUser')
        if $type eq 'D' || $type eq 'G';
    $c{creator_id} = $ctx->{user}{id};
    $c{name} //= '';
    $c{type} = $type;
    my $ch = save_channel($s, \%c);
    my $m = add_member($s, $ch, $ctx->{user});
    $m->{scheme_admin} = JSON::PP::true;
    return (201, $s->channel_json($ch));
}

sub require_channel_id {
    my ($id) = @_;
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'channel_id' })
        unless is_valid_id($id);
    return $id;
}

sub load_channel {
    my ($s, $id) = @_;
    return $s->channel($id)
        || app_error(404, 'app.channel.get.existing.app_error', where => 'GetChannel');
}

sub get_channel {
    my ($s, $req, $ctx) = @_;
    my $ch = load_channel($s, require_channel_id($req->param('channel_id')));
    read_access($s, $ctx, $ch);
    return (200, $s->channel_json($ch));
}

# a public channel is readable by its team, the rest by their members
sub read_access {
    my ($s, $ctx, $ch) = @_;
    return if $s->is_admin($ctx->{user}) || $s->channel_member($ch->{id}, $ctx->{user}{id});
    return if $ch->{type} eq 'O' && $s->team_member($ch->{team_id}, $ctx->{user}{id});
    $s->permission_error($ctx, 'read_channel');
}

sub channel_by_name {
    my ($s, $req, $ctx) = @_;
    my $tid = $req->param('team_id');
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'team_id' })
        unless is_valid_id($tid);
    my $name = $req->param('channel_name');
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'channel_name' })
        unless is_valid_channel_name($name);
    my $deleted = ($req->query->{include_deleted} // '') =~ /^(?:1|t|true|T|TRUE|True)\z/;
    my $ch = $s->channel_by_name($tid, $name, $deleted)
        or app_error(404, 'app.channel.get_by_name.missing.app_error', where => 'GetChannelByName');
    read_access($s, $ctx, $ch);
    return (200, $s->channel_json($ch));
}

# GetOrCreateDirectChannel: the channel named "<id>__<id>" (sorted), on no
# team; the id for an unknown user was not read in the source
sub direct_channel {
    my ($s, $id1, $id2) = @_;
    my @users = map { $s->user($_) } $id1, $id2;
    app_error(400, 'api.channel.create_direct_channel.invalid_user.app_error',
              where => 'CreateDirectChannel', detail => "User1ID: $id1, User2ID: $id2")
        if grep { !$_ } @users;
    my $name = dm_channel_name($id1, $id2);
    my $ch = $s->channel_by_name('', $name, 1);
    unless ($ch) {
        $ch = $s->insert_channel({ team_id => '', name => $name, display_name => '', type => 'D',
                                   creator_id => '' });
        add_member($s, $ch, $_) for @users;
    }
    return $ch;
}

sub create_direct {
    my ($s, $req, $ctx) = @_;
    my $ids = eval { JSON::PP->new->utf8->decode($req->body) };
    app_error(400, 'api.payload.parse.error', where => 'createDirectChannel')
        unless ref $ids eq 'ARRAY';
    my %seen;
    my @ids = grep { !$seen{$_}++ } map { defined $_ && !ref $_ ? $_ : '' } @$ids;
    # a single id is allowed for the caller's own channel
    @ids = ($ids[0], $ids[0]) if @ids == 1 && $ids[0] eq $ctx->{user}{id};
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'user_ids' })
        unless @ids == 2;
    for (@ids) {
        app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'user_id' })
            unless is_valid_id($_);
    }
    # the caller must be one of the two unless they have manage_system
    $s->permission_error($ctx, 'manage_system')
        unless grep({ $_ eq $ctx->{user}{id} } @ids) || $s->is_admin($ctx->{user});
    return (201, $s->channel_json(direct_channel($s, @ids)));
}

# app.createGroupChannel: 3..8 existing users, named by the SHA-1 of their ids
sub group_channel {
    my ($s, @ids) = @_;
    app_error(400, 'api.channel.create_group.bad_size.app_error', where => 'CreateGroupChannel')
        if @ids < 3 || @ids > 8;
    # GetProfileByIds returns each user once
    my %once;
    my @users = grep { $_ && !$once{ $_->{id} }++ } map { $s->user($_) } @ids;
    app_error(400, 'api.channel.create_group.bad_user.app_error', where => 'CreateGroupChannel')
        if @users != @ids;
    my $name = group_channel_name(@ids);
    my $ch = $s->channel_by_name('', $name, 1);
    unless ($ch) {
        $ch = $s->insert_channel({ team_id => '', name => $name, type => 'G', creator_id => '',
                                   display_name => join(', ', sort map { $_->{username} } @users) });
        add_member($s, $ch, $_) for @users;
    }
    return $ch;
}

sub create_group {
    my ($s, $req, $ctx) = @_;
    my $ids = eval { JSON::PP->new->utf8->decode($req->body) };
    app_error(400, 'api.payload.parse.error', where => 'createGroupChannel')
        unless ref $ids eq 'ARRAY';
    my %seen;
    my @ids = sort grep { !$seen{$_}++ } map { defined $_ && !ref $_ ? $_ : '' } @$ids;
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'user_ids' })
        unless @ids;
    for (@ids) {
        app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'user_id' })
            unless is_valid_id($_);
    }
    # the caller is added when missing
    push @ids, $ctx->{user}{id} unless $seen{ $ctx->{user}{id} };
    return (201, $s->channel_json(group_channel($s, @ids)));
}

# AddChannelMember -> AddUserToChannel: open or private channels only, the
# user on the channel's team; an existing member is returned unchanged. An
# archived channel is refused as the app layer did up to v5
# (add_user_to_channel.deleted); the current app layer was not seen to check.
sub add_user_to_channel {
    my ($s, $ch, $user_id) = @_;
    my $user = $s->user($user_id)
        or app_error(404, 'app.user.missing_account.const', where => 'GetUser');
    if (my $m = $s->channel_member($ch->{id}, $user->{id})) { return $m }
    app_error(400, 'api.channel.add_user_to_channel.deleted.app_error', where => 'AddUserToChannel')
        if $ch->{delete_at};
    app_error(400, 'api.channel.add_user_to_channel.type.app_error', where => 'AddUserToChannel')
        unless $ch->{type} eq 'O' || $ch->{type} eq 'P';
    my $tm = $s->team_member($ch->{team_id}, $user->{id});
    app_error(404, 'app.team.get_member.missing.app_error', where => 'AddUserToChannel') unless $tm;
    app_error(400, 'api.channel.add_user.to.channel.failed.deleted.app_error', where => 'AddUserToChannel')
        if $tm->{delete_at};
    return add_member($s, $ch, $user);
}

sub add_channel_member {
    my ($s, $req, $ctx) = @_;
    my $cid = require_channel_id($req->param('channel_id'));
    my $in = $s->body_json($req, 'channel_member');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'user_id' })
        unless ref $in eq 'HASH';
    my @ids;
    if (ref $in->{user_ids} eq 'ARRAY' && @{ $in->{user_ids} }) {
        @ids = @{ $in->{user_ids} };
        app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'user_ids' })
            if @ids > 1000;
    } else {
        @ids = ($in->{user_id});
    }
    for (@ids) {
        app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'user_id' })
            unless is_valid_id($_);
    }
    my $ch = load_channel($s, $cid);
    unless ($s->is_admin($ctx->{user})) {
        my $self_join = @ids == 1 && $ids[0] eq $ctx->{user}{id} && $ch->{type} eq 'O'
                        && $s->team_member($ch->{team_id}, $ctx->{user}{id});
        $s->permission_error($ctx, $ch->{type} eq 'P' ? 'manage_private_channel_members'
                                                      : 'manage_public_channel_members')
            unless $self_join || $s->channel_member($ch->{id}, $ctx->{user}{id});
    }
    my @members = map { add_user_to_channel($s, $ch, $_) } @ids;
    my @out = map { Ferry::Mattermost::Server::strip($_) } @members;
    return (201, ref $in->{user_ids} eq 'ARRAY' && @{ $in->{user_ids} } ? \@out : $out[0]);
}

# deleteChannel archives: DeleteAt is set, nothing is removed (the three
# refusal ids were not read in the source)
sub archive {
    my ($s, $ch) = @_;
    app_error(400, 'api.channel.delete_channel.type.invalid', where => 'deleteChannel')
        if $ch->{type} eq 'D' || $ch->{type} eq 'G';
    app_error(400, 'api.channel.delete_channel.deleted.app_error', where => 'DeleteChannel')
        if $ch->{delete_at};
    app_error(400, 'api.channel.delete_channel.cannot.app_error', where => 'DeleteChannel',
              params => { Channel => 'town-square' })
        if $ch->{name} eq 'town-square';
    $ch->{delete_at} = $ch->{update_at} = now_ms();
}

# restoreChannel (api4/channel.go): manage_team, then app.RestoreChannel:
# a DM or group is refused, a channel that is not archived is a 400
sub restore_channel {
    my ($s, $req, $ctx) = @_;
    my $ch = load_channel($s, require_channel_id($req->param('channel_id')));
    $s->require_admin($ctx, 'manage_team');
    app_error(400, 'api.channel.restore_channel.unarchive.app_error', where => 'restoreChannel')
        if $ch->{type} eq 'D' || $ch->{type} eq 'G';
    app_error(400, 'api.channel.restore_channel.restored.app_error', where => 'RestoreChannel')
        unless $ch->{delete_at};
    $ch->{delete_at} = 0;
    $ch->{update_at} = now_ms();
    return (200, $s->channel_json($ch));
}

sub delete_channel {
    my ($s, $req, $ctx) = @_;
    my $ch = load_channel($s, require_channel_id($req->param('channel_id')));
    $s->require_admin($ctx, $ch->{type} eq 'P' ? 'delete_private_channel' : 'delete_public_channel')
        unless $ch->{creator_id} eq $ctx->{user}{id};
    archive($s, $ch);
    return $s->ok_status;
}

1;
