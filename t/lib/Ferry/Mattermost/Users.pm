package Ferry::Mattermost::Users;

# Users, personal access tokens and teams (api4/user.go, api4/team.go,
# app/user.go, model/user.go).

use strict;
use warnings;
use utf8;

use Encode ();
use JSON::PP;

use Ferry::Mattermost::Model qw(is_valid_id now_ms app_error validate_user is_valid_username
                                is_valid_email image_info);

sub routes {
    return (
        [GET  => '/api/v4/users/me', sub { get_user(@_, 'me') }],
        [POST => '/api/v4/users', \&create_user, public => 1],
        [POST => '/api/v4/users/usernames', \&users_by_usernames],
        [POST => '/api/v4/users/tokens/revoke', \&revoke_token],
        [GET  => '/api/v4/users/email/#email', \&user_by_email],
        [GET  => '/api/v4/users/username/#username', \&user_by_username],
        [GET  => '/api/v4/users/:user_id', sub { get_user(@_, $_[1]->param('user_id')) }],
        [POST => '/api/v4/users/:user_id/tokens', \&create_token],
        [GET  => '/api/v4/users/:user_id/tokens', \&user_tokens],
        [PUT  => '/api/v4/users/:user_id/active', \&set_active],
        [POST => '/api/v4/users/:user_id/image', \&set_image, file_api => 1],
        [GET  => '/api/v4/teams/name/#name', \&team_by_name],
        [GET  => '/api/v4/teams/:team_id', \&get_team],
        [POST => '/api/v4/teams/:team_id/members', \&add_team_member],
    );
}

# Context.RequireUserId: "me" is the caller, anything else a valid id
sub require_user_id {
    my ($ctx, $id) = @_;
    $id = $ctx->{user}{id} if ($id // '') eq 'me';
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'user_id' })
        unless is_valid_id($id);
    return $id;
}

sub get_user {
    my ($s, $req, $ctx, $id) = @_;
    $id = require_user_id($ctx, $id);
    my $u = $s->user($id) or app_error(404, 'app.user.missing_account.const', where => 'GetUser');
    return (200, $s->user_json($u));
}

# createUser -> CreateUserAsAdmin / CreateUserFromSignup -> createUserOrGuest
# -> userService.CreateUser -> store Save (PreSave, IsValid, unique keys)
sub create_user {
    my ($s, $req, $ctx) = @_;
    my $in = $s->body_json($req, 'user');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'user' })
        unless ref $in eq 'HASH';
    my $admin = $s->is_admin($ctx->{user});
    my %u = map { $_ => $in->{$_} } grep { exists $in->{$_} }
        qw(username email password auth_service auth_data nickname first_name last_name
           position locale props notify_props timezone);
    $_ = (defined $_ && !ref $_) ? "$_" : $_ for @u{qw(username email password auth_service
                                                      nickname first_name last_name position locale)};
    # User.SanitizeInput
    unless ($admin) {
        $u{auth_data} = '';
        $u{auth_service} = '';
    }
    $u{email} = ($u{email} // '') =~ s/^\s+|\s+\z//gr;
    # CreateUserFromSignup: only the first account, or an open server
    app_error(403, 'api.user.create_user.no_open_server', where => 'CreateUserFromSignup')
        if !$admin && !$s->opt('open_server');
    # userService.CreateUser: the password policy unless an auth service signs in
    if (($u{auth_service} // '') eq '') {
        my $len = length($u{password} // '');
        app_error(400, 'api.user.check_user_password.invalid.app_error', where => 'createUserOrGuest')
            if $len < $s->opt('password_min_length') || $len > 72;
    }
    # User.PreSave
    $u{auth_data} = undef if defined $u{auth_data} && $u{auth_data} eq '';
    $u{username} = $s->id if ($u{username} // '') eq '';
    $u{username} = lc $u{username};
    $u{email} = lc $u{email};
    $u{locale} = 'en' if ($u{locale} // '') eq '';
    $u{roles} = 'system_user';
    if (my $field = validate_user(\%u)) {
        my $id = $field eq 'roles_limit' ? 'model.user.is_valid.roles_limit.app_error'
               : "model.user.is_valid.$field.app_error";
        app_error(400, $id, where => 'User.IsValid', detail => "$field=" . ($u{$field} // ''));
    }
    # the unique keys of the Users table: email, username, and authdata
    # alone (users_authdata_key UNIQUE (authdata)), which Save does not map
    # to an AppError of its own: the server answers 500
    app_error(400, 'app.user.save.email_exists.app_error', where => 'createUserOrGuest')
        if $s->user_by(email => $u{email});
    app_error(400, 'app.user.save.username_exists.app_error', where => 'createUserOrGuest')
        if $s->user_by(username => $u{username});
    app_error(500, 'app.user.save.app_error', where => 'createUserOrGuest',
              detail => 'duplicate key value violates unique constraint "users_authdata_key"')
        if defined $u{auth_data} && $s->user_by(auth_data => $u{auth_data});
    my $user = $s->insert_user(\%u);
    return (201, $s->user_json($user));
}

sub user_by_email {
    my ($s, $req, $ctx) = @_;
    my $email = lc($req->param('email') // '');
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'email' })
        unless is_valid_email($email);
    my $u = $s->user_by(email => $email)
        or app_error(404, 'app.user.missing_account.const', where => 'GetUserByEmail');
    return (200, $s->user_json($u));
}

sub user_by_username {
    my ($s, $req, $ctx) = @_;
    my $name = $req->param('username') // '';
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'username' })
        unless is_valid_username($name);
    my $u = $s->user_by(username => $name)
        or app_error(404, 'app.user.get_by_username.app_error', where => 'GetUserByUsername');
    return (200, $s->user_json($u));
}

sub users_by_usernames {
    my ($s, $req, $ctx) = @_;
    my $names = $s->body_json($req, 'usernames');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'usernames' })
        unless ref $names eq 'ARRAY';
    my %want = map { (defined $_ && !ref $_) ? ($_ => 1) : () } @$names;
    my @users = sort { $a->{seq} <=> $b->{seq} }
                grep { $want{ $_->{username} } } values %{ $s->{st}{users} };
    return (200, [ map { $s->user_json($_) } @users ]);
}

# createUserAccessToken: a description is required; creating one for
# anyone takes create_user_access_token, which only the system admin role
# holds by default
sub create_token {
    my ($s, $req, $ctx) = @_;
    my $id = require_user_id($ctx, $req->param('user_id'));
    my $in = $s->body_json($req, 'user_access_token');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'description' })
        unless ref $in eq 'HASH' && defined $in->{description} && !ref $in->{description}
               && $in->{description} ne '';
    $s->require_admin($ctx, 'create_user_access_token');
    my $u = $s->user($id) or app_error(404, 'app.user.missing_account.const', where => 'GetUser');
    my $t = $s->insert_token($u->{id}, $in->{description});
    return (200, { id => $t->{id}, token => $t->{token}, user_id => $u->{id},
                   description => $t->{description}, is_active => JSON::PP::true });
}

# getUserAccessTokensForUser: read_user_access_token (an admin's, for
# another user), a page of the user's tokens with the token itself left out
sub user_tokens {
    my ($s, $req, $ctx) = @_;
    my $id = require_user_id($ctx, $req->param('user_id'));
    $s->require_admin($ctx, 'read_user_access_token') unless $id eq $ctx->{user}{id};
    my ($page) = $s->page_of($req,
        sort { $a->{seq} <=> $b->{seq} } grep { $_->{user_id} eq $id } values %{ $s->{st}{tokens} });
    return (200, [ map { { id => $_->{id}, user_id => $_->{user_id}, description => $_->{description},
                           is_active => JSON::PP::true } } @$page ]);
}

# revokeUserAccessToken deletes the token and the session made from it
sub revoke_token {
    my ($s, $req, $ctx) = @_;
    my $in = $s->body_json($req, 'token_id');
    my $tid = ref $in eq 'HASH' ? $in->{token_id} : undef;
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'token_id' })
        unless is_valid_id($tid);
    my ($t) = grep { $_->{id} eq $tid } values %{ $s->{st}{tokens} };
    # (id not read in the source)
    app_error(404, 'app.user_access_token.get_by_id.app_error') unless $t;
    $s->require_admin($ctx, 'revoke_user_access_token') unless $t->{user_id} eq $ctx->{user}{id};
    delete $s->{st}{tokens}{ $t->{token} };
    return $s->ok_status;
}

# updateUserActive: {"active": false} deactivates (DeleteAt), and the
# user's sessions and tokens stop working
sub set_active {
    my ($s, $req, $ctx) = @_;
    my $id = require_user_id($ctx, $req->param('user_id'));
    my $in = $s->body_json($req, 'active');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'active' })
        unless ref $in eq 'HASH' && JSON::PP::is_bool($in->{active});
    $s->require_admin($ctx, 'manage_system') unless $id eq $ctx->{user}{id};
    my $u = $s->user($id) or app_error(404, 'app.user.missing_account.const', where => 'GetUser');
    $u->{delete_at} = $in->{active} ? 0 : now_ms();
    $u->{update_at} = now_ms();
    return $s->ok_status;
}

# uploadProfileImage: multipart "image", an image the server can decode
# (decode.app_error was read in app/user.go; the too_large, parse, no_file
# and too_many ids were not read in the source. The server decodes the
# whole image; this looks at its header only.)
sub set_image {
    my ($s, $req, $ctx) = @_;
    my $id = require_user_id($ctx, $req->param('user_id'));
    $s->require_admin($ctx, 'edit_other_users') unless $id eq $ctx->{user}{id};
    app_error(413, 'api.user.upload_profile_user.too_large.app_error')
        if $req->body_length > $s->opt('max_file_size');
    my $parts = $s->multipart($req)
        or app_error(400, 'api.user.upload_profile_user.parse.app_error');
    my @img = grep { ($_->{name} // '') eq 'image' && defined $_->{filename} } @$parts;
    app_error(400, 'api.user.upload_profile_user.no_file.app_error') unless @img;
    app_error(400, 'api.user.upload_profile_user.too_many.app_error') if @img > 1;
    my $u = $s->user($id) or app_error(404, 'app.user.missing_account.const', where => 'GetUser');
    my ($format, $w, $h) = image_info($img[0]{data});
    app_error(400, 'api.user.upload_profile_user.decode.app_error') unless $format;
    require Digest::SHA;
    $s->{st}{images}{ $u->{id} } = {
        user_id => $u->{id}, format => $format, width => $w, height => $h,
        size => length $img[0]{data}, sha256 => Digest::SHA::sha256_hex($img[0]{data}),
        filename => $img[0]{filename}, seq => $s->next_seq,
    };
    $u->{last_picture_update} = now_ms();
    return $s->ok_status;
}

sub team_by_name {
    my ($s, $req, $ctx) = @_;
    my $name = $req->param('name') // '';
    # model.IsValidTeamName
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'team_name' })
        unless $name =~ /^[a-z0-9]+([a-z\-0-9]+|(__)?)[a-z0-9]+\z/ && length $name <= 64;
    my $t = $s->team_by_name($name)
        or app_error(404, 'app.team.get_by_name.missing.app_error', where => 'GetTeamByName');
    return (200, $s->team_json($t));
}

# (app.team.get.find.app_error for an unknown id: not read in the source)
sub get_team {
    my ($s, $req, $ctx) = @_;
    my $id = $req->param('team_id');
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'team_id' })
        unless is_valid_id($id);
    my $t = $s->team($id) or app_error(404, 'app.team.get.find.app_error', where => 'GetTeam');
    return (200, $s->team_json($t));
}

# JoinUserToTeam: the member row (an existing one is kept), then the
# team's default channels (town-square, off-topic)
sub join_team {
    my ($s, $team, $user) = @_;
    my $key = "$team->{id}:$user->{id}";
    my $m = $s->{st}{team_members}{$key};
    if (!$m) {
        $m = $s->{st}{team_members}{$key} = {
            team_id => $team->{id}, user_id => $user->{id}, roles => '', delete_at => 0,
            scheme_user => JSON::PP::true, scheme_admin => JSON::PP::false,
            scheme_guest => JSON::PP::false, explicit_roles => '', create_at => now_ms(),
            seq => $s->next_seq,
        };
    } elsif ($m->{delete_at}) {
        $m->{delete_at} = 0;
    }
    for my $name (qw(town-square off-topic)) {
        my $c = $s->channel_by_name($team->{id}, $name) or next;
        Ferry::Mattermost::Channels::add_member($s, $c, $user);
    }
    return $m;
}

sub add_team_member {
    my ($s, $req, $ctx) = @_;
    my $tid = $req->param('team_id');
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'team_id' })
        unless is_valid_id($tid);
    my $in = eval { JSON::PP->new->utf8->decode($req->body) };
    app_error(400, 'api.team.add_team_member.invalid_body.app_error')
        unless ref $in eq 'HASH';
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'team_id' })
        unless ($in->{team_id} // '') eq $tid;
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'user_id' })
        unless is_valid_id($in->{user_id});
    $s->require_admin($ctx, 'add_user_to_team');
    my $team = $s->team($tid) or app_error(404, 'app.team.get.find.app_error', where => 'GetTeam');
    my $user = $s->user($in->{user_id})
        or app_error(404, 'app.user.missing_account.const', where => 'GetUser');
    my $m = join_team($s, $team, $user);
    return (201, Ferry::Mattermost::Server::strip($m));
}

1;
