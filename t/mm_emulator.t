#!/usr/bin/perl
# Ferry::Mattermost, the Mattermost emulator ferryd's export is tested
# against, with real HTTP clients: for each rule of the server it copies, a
# request the server refuses gets the server's status and error id (and a
# request it accepts is accepted), and the state seen through GET
# /__mm/state is what the calls made. Needs no PostgreSQL, nginx or ferryd.

use strict;
use warnings;
use utf8;
use Test::More;
use Compress::Raw::Zlib ();
use HTTP::Tiny;
use IO::Compress::Zip qw(zip $ZipError);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Ferry::Test;

BEGIN {
    eval { require Mojolicious; 1 }
        or plan skip_all => 'Mojolicious is not installed (apt-get install libmojolicious-perl)';
}
use Ferry::Mattermost;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $t = Ferry::Test->new;
my $J = JSON::PP->new->utf8->canonical;
my $ua = HTTP::Tiny->new(keep_alive => 0, timeout => 30);

my %TOK = (ana => 'tok-ana-0000000000000000000', bob => 'tok-bob-0000000000000000000',
           cid => 'tok-cid-0000000000000000000', dee => 'tok-dee-0000000000000000000');
my $mm = Ferry::Mattermost->new($t,
    users => [ { username => 'ana', email => 'ana@example.com', token => $TOK{ana}, first_name => 'Ana' },
               { username => 'bob', email => 'bob@example.com', token => $TOK{bob} },
               { username => 'cid', email => 'cid@example.com', token => $TOK{cid} },
               { username => 'dee', email => 'dee@example.com', token => $TOK{dee}, no_team => 1 } ],
)->start;
my $ADMIN = $mm->admin_token;
my $TEAM = $mm->team_id;

# ------------------------------------------------------------------ helpers

sub call {
    my ($method, $path, %o) = @_;
    my $m = $o{mm} // $mm;
    my %h = %{ $o{headers} || {} };
    $h{Authorization} = "Bearer $o{token}" if defined $o{token};
    my %req = (headers => \%h);
    if (exists $o{json}) {
        $h{'Content-Type'} = 'application/json';
        $req{content} = ref $o{json} ? $J->encode($o{json}) : $o{json};
    } elsif (defined $o{body}) {
        $req{content} = $o{body};
    }
    my $r = $ua->request($method, $m->url . $path, \%req);
    $r->{json} = eval { $J->decode($r->{content}) };
    return $r;
}

# status and AppError id in one assertion
sub refused {
    my ($r, $status, $id, $what) = @_;
    my $got = "$r->{status} " . (ref $r->{json} eq 'HASH' ? $r->{json}{id} // '(no id)' : $r->{content});
    is($got, "$status $id", $what) or diag $r->{content};
}

sub accepted {
    my ($r, $status, $what) = @_;
    is($r->{status}, $status, $what) or diag $r->{content};
    return $r->{json};
}

# multipart/form-data: parts are [name, value] or [name, bytes, filename]
sub multipart {
    my (@parts) = @_;
    my $b = 'ferry-boundary-7f3a';
    my $body = '';
    for my $p (@parts) {
        my ($name, $value, $filename) = @$p;
        $body .= "--$b\r\nContent-Disposition: form-data; name=\"$name\""
               . (defined $filename ? "; filename=\"$filename\"\r\nContent-Type: application/octet-stream" : '')
               . "\r\n\r\n$value\r\n";
    }
    $body .= "--$b--\r\n";
    return (body => $body, headers => { 'Content-Type' => "multipart/form-data; boundary=$b" });
}

sub png {
    my ($w, $h, %o) = @_;
    my $ihdr = 'IHDR' . pack('NNCCCCC', $w, $h, 8, 6, 0, 0, 0);
    my $crc = $o{bad_crc} ? 0 : Compress::Raw::Zlib::crc32($ihdr);
    return "\x89PNG\r\n\x1a\n" . pack('N', 13) . $ihdr . pack('N', $crc) . ($o{pad} // '');
}
sub gif { "GIF89a" . pack('vv', $_[0], $_[1]) . "\x00\x00\x00" . "\x3b" }
sub jpeg {
    my ($w, $h) = @_;
    return "\xff\xd8" . "\xff\xe0" . pack('n', 16) . "JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
         . "\xff\xc0" . pack('n', 17) . "\x08" . pack('nn', $h, $w) . "\x03" . ("\x01\x11\x00" x 3)
         . "\xff\xd9";
}

sub me { call(GET => '/api/v4/users/me', token => $_[0]) }
my %ID = map { $_ => $mm->user(username => $_)->{id} } qw(ana bob cid dee);
$ID{admin} = $mm->admin_id;

sub new_channel {
    my ($name, %o) = @_;
    my $r = call(POST => '/api/v4/channels', token => $o{token} // $ADMIN,
                 json => { team_id => $TEAM, name => $name, display_name => $o{display} // $name,
                           type => $o{type} // 'O' });
    die "channel $name: $r->{content}" unless $r->{status} == 201;
    return $r->{json}{id};
}

sub add_members {
    my ($cid, @users) = @_;
    for (@users) {
        my $r = call(POST => "/api/v4/channels/$cid/members", token => $ADMIN, json => { user_id => $ID{$_} });
        die "member $_: $r->{content}" unless $r->{status} == 201;
    }
}

sub new_post {
    my ($token, $cid, %p) = @_;
    my $r = call(POST => '/api/v4/posts', token => $token, json => { channel_id => $cid, message => 'm', %p });
    die "post: $r->{content}" unless $r->{status} == 201;
    return $r->{json};
}

# ------------------------------------------------------------------ auth, errors, ids

{
    my $r = call(GET => '/api/v4/users/me');
    refused($r, 401, 'api.context.session_expired.app_error', 'no token: 401 session_expired');
    is_deeply([sort keys %{ $r->{json} }], [qw(detailed_error id message request_id status_code)],
              'the AppError JSON has the server\'s five keys');
    is($r->{json}{status_code}, 401, 'status_code in the body');
    is($r->{json}{message}, 'Invalid or expired session, please login again.', 'the English message');
    is($r->{json}{detailed_error}, '', 'detailed_error wiped outside developer mode');
    is($r->{json}{request_id}, $r->{headers}{'x-request-id'}, 'request_id is the X-Request-Id header');
    like($r->{headers}{'content-type'}, qr{^application/json}, 'errors are JSON');

    refused(me('not-a-token'), 401, 'api.context.session_expired.app_error', 'unknown token: 401');
    refused(call(GET => '/api/v4/users/me', headers => { Authorization => "Basic $ADMIN" }), 401,
            'api.context.session_expired.app_error', 'a token not given as Bearer/Token: 401');
    my $u = accepted(me($ADMIN), 200, 'admin token: /users/me');
    is($u->{id}, $ID{admin}, '... the admin user');
    like($u->{roles}, qr/\bsystem_admin\b/, '... a system admin');
    is($u->{auth_data}, '', '... auth_data blanked in answers');
    ok(!exists $u->{password}, '... no password');
    is(accepted(call(GET => '/api/v4/users/me', headers => { Authorization => "Token $TOK{ana}" }), 200,
                'the "Token" scheme is accepted too')->{username}, 'ana', '... as ana');
    like($ID{ana}, qr/^[ybndrfg8ejkmcpqxot1uwisza345h769]{26}\z/, 'ids: 26 characters of NewId\'s alphabet');
    is(Ferry::Mattermost->new(Ferry::Test->new, users => [])->admin_id, $ID{admin},
       'ids are deterministic: the same seed gives the same admin id');
    isnt(Ferry::Mattermost->new(Ferry::Test->new, seed => 'other')->admin_id, $ID{admin},
         '... and another seed another id');
    refused(call(GET => '/api/v4/nothing/here', token => $ADMIN), 404, 'api.context.404.app_error',
            'an unknown API path: 404 api.context.404.app_error');
}

# ------------------------------------------------------------------ users

sub create_user {
    my (%u) = @_;
    my $token = delete $u{_token} // $ADMIN;
    return call(POST => '/api/v4/users', token => $token,
                json => { password => 'Password-123', %u });
}

{
    my $r = create_user(username => 'Eve.Smith', email => 'Eve@Example.COM', nickname => 'Ева');
    my $eve = accepted($r, 201, 'create user: 201');
    is($eve->{username}, 'eve.smith', 'the username is lower-cased (PreSave)');
    is($eve->{email}, 'eve@example.com', 'the email is lower-cased');
    is($eve->{roles}, 'system_user', 'a new user is a system_user');
    is($mm->user(username => 'eve.smith')->{nickname}, 'Ева', 'state: the user with its nickname');

    refused(create_user(username => 'eve2', email => 'EVE@example.com'), 400,
            'app.user.save.email_exists.app_error', 'the same email in another case: email_exists');
    refused(create_user(username => 'EVE.SMITH', email => 'other@example.com'), 400,
            'app.user.save.username_exists.app_error', 'the same username in another case: username_exists');
    refused(create_user(username => 'bad name', email => 'x1@example.com'), 400,
            'model.user.is_valid.username.app_error', 'a space in the username');
    refused(create_user(username => 'émile', email => 'x2@example.com'), 400,
            'model.user.is_valid.username.app_error', 'a non-ASCII username');
    refused(create_user(username => 'a' x 65, email => 'x3@example.com'), 400,
            'model.user.is_valid.username.app_error', 'a 65-character username');
    accepted(create_user(username => 'b' x 64, email => 'x4@example.com'), 201, 'a 64-character username');
    for my $reserved (qw(all channel matterbot system)) {
        refused(create_user(username => $reserved, email => "$reserved\@example.com"), 400,
                'model.user.is_valid.username.app_error', "reserved username $reserved");
    }
    refused(create_user(username => 'x5', email => 'not-an-email'), 400,
            'model.user.is_valid.email.app_error', 'an email without @');
    refused(create_user(username => 'x6', email => 'Ana <x6@example.com>'), 400,
            'model.user.is_valid.email.app_error', 'an email with a display name');
    refused(create_user(username => 'x7', email => ('e' x 117) . '@example.com'), 400,
            'model.user.is_valid.email.app_error', 'a 129-byte email');
    accepted(create_user(username => 'x7b', email => ('e' x 116) . '@example.com'), 201, 'a 128-byte email');
    refused(create_user(username => 'x8', email => 'x8@example.com', nickname => 'я' x 65), 400,
            'model.user.is_valid.nickname.app_error', 'nickname of 65 runes');
    accepted(create_user(username => 'x8b', email => 'x8b@example.com', nickname => 'я' x 64), 201,
             'nickname of 64 runes (128 bytes)');
    refused(create_user(username => 'x9', email => 'x9@example.com', first_name => 'f' x 65), 400,
            'model.user.is_valid.first_name.app_error', 'first_name of 65 runes');
    refused(create_user(username => 'x10', email => 'x10@example.com', last_name => 'l' x 65), 400,
            'model.user.is_valid.last_name.app_error', 'last_name of 65 runes');
    refused(create_user(username => 'x11', email => 'x11@example.com', position => 'p' x 129), 400,
            'model.user.is_valid.position.app_error', 'position of 129 runes');
    refused(create_user(username => 'x12', email => 'x12@example.com', locale => 'en-USA'), 400,
            'model.user.is_valid.locale.app_error', 'a locale longer than 5');
    accepted(create_user(username => 'x12b', email => 'x12b@example.com', locale => 'pt-BR'), 201,
             'locale pt-BR');
    refused(create_user(username => 'x13', email => 'x13@example.com', password => '', auth_service => 'gitlab',
                        auth_data => 'd' x 129), 400, 'model.user.is_valid.auth_data.app_error',
            'auth_data of 129 bytes');
    refused(create_user(username => 'x14', email => 'x14@example.com', password => '', auth_data => '123'), 400,
            'api.user.check_user_password.invalid.app_error',
            'auth_data without an auth service: the empty password is refused first');
    refused(create_user(username => 'x14b', email => 'x14b@example.com', auth_data => '123'), 400,
            'model.user.is_valid.auth_data_type.app_error', 'auth_data without auth_service');
    refused(create_user(username => 'x15', email => 'x15@example.com', auth_service => 'gitlab',
                        auth_data => '777'), 400, 'model.user.is_valid.auth_data_pwd.app_error',
            'a password and auth_data together');
    refused(create_user(username => 'x16', email => 'x16@example.com', password => 'short'), 400,
            'api.user.check_user_password.invalid.app_error', 'a password under 8 characters');
    accepted(create_user(username => 'x17', email => 'x17@example.com', password => '', auth_service => 'gitlab',
                         auth_data => '4242'), 201, 'a gitlab user without a password');
    is($mm->user(username => 'x17')->{auth_data}, '4242', 'state: its auth_data');
    refused(create_user(username => 'x18', email => 'x18@example.com', password => '', auth_service => 'saml',
                        auth_data => '4242'), 500, 'app.user.save.app_error',
            'the same auth_data again (another service too): 500, the unique key is on auth_data alone');
    refused(create_user(username => 'x19', email => 'x19@example.com', _token => $TOK{ana}), 403,
            'api.user.create_user.no_open_server', 'a non-admin cannot create users (no open server)');
    refused(call(POST => '/api/v4/users', token => $ADMIN, json => '{"username":'), 400,
            'api.context.invalid_body_param.app_error', 'invalid JSON');
    ok(!$mm->user(username => 'x5'), 'state: no refused user was stored');

    # the original backend's auth_data: a 31-hash of the username mod 100000,
    # auth_service gitlab; two usernames with the same value collide
    my %seen;
    my ($n1, $n2);
    for my $i (1 .. 20000) {
        my $name = "slack.user$i";
        my $h = 0;
        $h = ($h * 31 + ord $_) % 2**32 for split //, $name;
        my $ad = $h % 100000;
        if ($seen{$ad}) { ($n1, $n2) = ($seen{$ad}, $name); last }
        $seen{$ad} = $name;
    }
    ok($n1, "two usernames with the same calc_auth_data: $n1, $n2");
    my $ad = do { my $h = 0; $h = ($h * 31 + ord $_) % 2**32 for split //, $n1; $h % 100000 };
    accepted(create_user(username => $n1, email => "$n1\@example.com", password => '', auth_service => 'gitlab',
                         auth_data => "$ad"), 201, 'the first of them is created');
    refused(create_user(username => $n2, email => "$n2\@example.com", password => '', auth_service => 'gitlab',
                        auth_data => "$ad"), 500, 'app.user.save.app_error',
            'the second one fails as on the real server (the original\'s collision)');
}

{
    my $u = accepted(call(GET => '/api/v4/users/email/ANA@Example.com', token => $ADMIN), 200,
                     'user by email, in another case');
    is($u->{id}, $ID{ana}, '... ana');
    refused(call(GET => '/api/v4/users/email/nobody@example.com', token => $ADMIN), 404,
            'app.user.missing_account.const', 'unknown email: 404');
    refused(call(GET => '/api/v4/users/email/not-an-email', token => $ADMIN), 400,
            'api.context.invalid_url_param.app_error', 'invalid email in the path: 400');
    is(accepted(call(GET => '/api/v4/users/username/bob', token => $ADMIN), 200, 'user by username')->{id},
       $ID{bob}, '... bob');
    refused(call(GET => '/api/v4/users/username/nobody', token => $ADMIN), 404,
            'app.user.get_by_username.app_error', 'unknown username: 404');
    refused(call(GET => '/api/v4/users/username/Bob', token => $ADMIN), 400,
            'api.context.invalid_body_param.app_error', 'an upper-case username in the path is invalid');
    my $list = accepted(call(POST => '/api/v4/users/usernames', token => $ADMIN, json => [qw(ana cid nobody)]),
                        200, 'users by usernames');
    is_deeply([sort map { $_->{username} } @$list], [qw(ana cid)], '... the known ones');
    refused(call(POST => '/api/v4/users/usernames', token => $ADMIN, json => { a => 1 }), 400,
            'api.context.invalid_body_param.app_error', 'usernames: not an array');
    refused(call(GET => '/api/v4/users/not-an-id', token => $ADMIN), 400,
            'api.context.invalid_url_param.app_error', 'user by an invalid id');
}

{
    my $r = call(POST => "/api/v4/users/$ID{cid}/tokens", token => $ADMIN, json => { description => 'export' });
    my $tok = accepted($r, 200, 'personal access token for cid');
    is($tok->{user_id}, $ID{cid}, '... of cid');
    is(me($tok->{token})->{json}{username}, 'cid', 'the new token authenticates as cid');
    refused(call(POST => "/api/v4/users/$ID{cid}/tokens", token => $ADMIN, json => {}), 400,
            'api.context.invalid_body_param.app_error', 'a token needs a description');
    refused(call(POST => "/api/v4/users/$ID{bob}/tokens", token => $TOK{ana}, json => { description => 'x' }),
            403, 'api.context.permissions.app_error', 'a user cannot make tokens (create_user_access_token)');
    accepted(call(POST => '/api/v4/users/tokens/revoke', token => $ADMIN, json => { token_id => $tok->{id} }),
             200, 'revoke the token');
    refused(me($tok->{token}), 401, 'api.context.session_expired.app_error', 'a revoked token: 401');

    refused(call(PUT => "/api/v4/users/$ID{cid}/active", token => $TOK{ana}, json => { active => JSON::PP::false }),
            403, 'api.context.permissions.app_error', 'a user cannot deactivate another');
    refused(call(PUT => "/api/v4/users/$ID{cid}/active", token => $ADMIN, json => { active => 'no' }), 400,
            'api.context.invalid_body_param.app_error', 'active must be a boolean');
    accepted(call(PUT => "/api/v4/users/$ID{cid}/active", token => $ADMIN, json => { active => JSON::PP::false }),
             200, 'deactivate cid');
    ok($mm->user(username => 'cid')->{delete_at} > 0, 'state: delete_at set');
    refused(me($TOK{cid}), 401, 'api.context.session_expired.app_error', 'a deactivated user\'s token: 401');
    accepted(call(PUT => "/api/v4/users/$ID{cid}/active", token => $ADMIN, json => { active => JSON::PP::true }),
             200, 'reactivate cid');
    is(me($TOK{cid})->{status}, 200, 'the token works again');

    accepted(call(POST => "/api/v4/users/$ID{ana}/image", token => $TOK{ana},
                  multipart([image => png(64, 64), 'a.png'])), 200, 'profile image (PNG)');
    my ($img) = $mm->images;
    is_deeply([@$img{qw(user_id format width)}], [$ID{ana}, 'png', 64], 'state: the image, decoded');
    ok($mm->user(username => 'ana')->{last_picture_update} > 0, 'state: last_picture_update');
    refused(call(POST => "/api/v4/users/$ID{ana}/image", token => $TOK{ana},
                 multipart([image => 'not an image', 'a.png'])), 400,
            'api.user.upload_profile_user.decode.app_error', 'an image that does not decode');
    refused(call(POST => "/api/v4/users/$ID{ana}/image", token => $TOK{ana},
                 multipart([image => png(1, 1, bad_crc => 1), 'a.png'])), 400,
            'api.user.upload_profile_user.decode.app_error', 'a PNG whose IHDR CRC is wrong');
    refused(call(POST => "/api/v4/users/$ID{ana}/image", token => $TOK{ana}, multipart([other => 'x'])), 400,
            'api.user.upload_profile_user.no_file.app_error', 'no image part');
    refused(call(POST => "/api/v4/users/$ID{bob}/image", token => $TOK{ana},
                 multipart([image => png(8, 8), 'a.png'])), 403,
            'api.context.permissions.app_error', 'another user\'s image');
}

# ------------------------------------------------------------------ teams

{
    is(accepted(call(GET => '/api/v4/teams/name/test', token => $TOK{ana}), 200, 'team by name')->{id},
       $TEAM, '... the start team');
    refused(call(GET => '/api/v4/teams/name/nope', token => $ADMIN), 404, 'app.team.get_by_name.missing.app_error',
            'unknown team name: 404');
    refused(call(GET => '/api/v4/teams/name/Bad_Name', token => $ADMIN), 400,
            'api.context.invalid_url_param.app_error', 'an invalid team name: 400');
    my $path = "/api/v4/teams/$TEAM/members";
    my $m = accepted(call(POST => $path, token => $ADMIN, json => { team_id => $TEAM, user_id => $ID{dee} }),
                     201, 'add dee to the team');
    is_deeply([@$m{qw(team_id user_id)}], [$TEAM, $ID{dee}], '... the member');
    accepted(call(POST => $path, token => $ADMIN, json => { team_id => $TEAM, user_id => $ID{dee} }), 201,
             'adding again: 201, as the server (idempotent)');
    is(scalar $mm->team_members(user_id => $ID{dee}), 1, 'state: one membership');
    my ($town) = $mm->channels(name => 'town-square');
    ok(scalar $mm->channel_members(channel_id => $town->{id}, user_id => $ID{dee}),
       'joining the team joins town-square');
    refused(call(POST => $path, token => $ADMIN, json => { team_id => $ID{ana}, user_id => $ID{dee} }), 400,
            'api.context.invalid_body_param.app_error', 'team_id in the body must be the path\'s');
    refused(call(POST => $path, token => $ADMIN, json => { team_id => $TEAM, user_id => 'x' }), 400,
            'api.context.invalid_body_param.app_error', 'an invalid user_id');
    refused(call(POST => $path, token => $ADMIN, json => { team_id => $TEAM, user_id => 'y' x 26 }), 404,
            'app.user.missing_account.const', 'an unknown user');
    refused(call(POST => $path, token => $TOK{ana}, json => { team_id => $TEAM, user_id => $ID{bob} }), 403,
            'api.context.permissions.app_error', 'a user cannot add others (add_user_to_team)');
    refused(call(POST => $path, token => $ADMIN, json => '[1]'), 400,
            'api.team.add_team_member.invalid_body.app_error', 'a body that is not a member');
}

# zed, on no team, for the membership checks below
my $zed = create_user(username => 'zed', email => 'zed@example.com')->{json};

# ------------------------------------------------------------------ channels

my ($GEN, $PRIV);
{
    my $r = call(POST => '/api/v4/channels', token => $ADMIN,
                 json => { team_id => $TEAM, name => 'general', display_name => 'General', type => 'O',
                           purpose => 'p' x 250, header => 'h' x 1024 });
    my $c = accepted($r, 201, 'create a channel');
    $GEN = $c->{id};
    is_deeply([@$c{qw(name type creator_id team_id)}], ['general', 'O', $ID{admin}, $TEAM], '... as asked');
    ok(scalar $mm->channel_members(channel_id => $GEN, user_id => $ID{admin}), 'the creator is a member');
    $PRIV = new_channel('secret', type => 'P', token => $TOK{ana});
    is($mm->channel($PRIV)->{creator_id}, $ID{ana}, 'a team member creates a private channel');

    my $mk = sub { call(POST => '/api/v4/channels', token => $ADMIN,
                        json => { team_id => $TEAM, name => 'c1', display_name => 'C', type => 'O', @_ }) };
    refused($mk->(name => 'general'), 400, 'store.sql_channel.save_channel.exists.app_error',
            'a name taken in the team: exists');
    refused($mk->(name => 'Upper'), 400, 'model.channel.is_valid.1_or_more.app_error', 'upper case in the name');
    refused($mk->(name => '-lead'), 400, 'model.channel.is_valid.1_or_more.app_error', 'a leading dash');
    refused($mk->(name => 'with space'), 400, 'model.channel.is_valid.1_or_more.app_error', 'a space');
    refused($mk->(name => 'точка'), 400, 'model.channel.is_valid.1_or_more.app_error', 'Cyrillic');
    refused($mk->(name => ''), 400, 'model.channel.is_valid.1_or_more.app_error', 'an empty name');
    accepted($mk->(name => 'x'), 201, 'a 1-character name');
    accepted($mk->(name => 'trail-'), 201, 'a trailing dash, which the server\'s pattern allows');
    accepted($mk->(name => 'n' x 64), 201, 'a 64-character name');
    refused($mk->(name => 'n' x 65), 500, 'app.channel.create_channel.internal_error',
            'a 65-character name: the model does not check, the varchar(64) column refuses (500)');
    refused($mk->(name => 'f' x 40), 400, 'model.channel.is_valid.name.app_error', 'a name shaped like a GM hash');
    refused($mk->(name => "$ID{ana}__$ID{bob}"), 400, 'model.channel.is_valid.name.app_error',
            'a name shaped like a DM\'s');
    refused($mk->(name => 'c2', display_name => 'д' x 65), 400, 'model.channel.is_valid.display_name.app_error',
            'display_name of 65 runes');
    accepted($mk->(name => 'c3', display_name => 'д' x 64), 201, 'display_name of 64 runes');
    refused($mk->(name => 'c4', display_name => ''), 400, 'api.context.invalid_body_param.app_error',
            'an empty display_name');
    refused($mk->(name => 'c5', purpose => 'p' x 251), 400, 'model.channel.is_valid.purpose.app_error',
            'purpose of 251 runes');
    refused($mk->(name => 'c6', header => 'h' x 1025), 400, 'model.channel.is_valid.header.app_error',
            'header of 1025 runes');
    refused($mk->(name => 'c7', type => 'X'), 400, 'model.channel.is_valid.type.app_error', 'type X');
    refused($mk->(name => 'c8', type => 'D'), 400, 'api.channel.create_channel.direct_channel.app_error',
            'type D through /channels');
    refused($mk->(name => 'c9', team_id => ''), 400, 'api.context.invalid_body_param.app_error', 'no team_id');
    my $zed_tok = call(POST => "/api/v4/users/$zed->{id}/tokens", token => $ADMIN,
                       json => { description => 't' })->{json}{token};
    $TOK{zed} = $zed_tok;
    $ID{zed} = $zed->{id};
    refused(call(POST => '/api/v4/channels', token => $zed_tok,
                 json => { team_id => $TEAM, name => 'c10', display_name => 'C', type => 'O' }), 403,
            'api.context.permissions.app_error', 'not on the team: no create_public_channel');

    my $byname = "/api/v4/teams/$TEAM/channels/name";
    is(accepted(call(GET => "$byname/general", token => $TOK{ana}), 200, 'channel by name')->{id}, $GEN,
       '... general');
    refused(call(GET => "$byname/nope", token => $ADMIN), 404, 'app.channel.get_by_name.missing.app_error',
            'unknown channel name: 404');
    refused(call(GET => "$byname/Bad", token => $ADMIN), 400, 'api.context.invalid_url_param.app_error',
            'an invalid channel name in the path');
    refused(call(GET => "$byname/secret", token => $TOK{bob}), 403, 'api.context.permissions.app_error',
            'a private channel of which one is not a member');
}

my ($DM, $GM);
{
    my $r = call(POST => '/api/v4/channels/direct', token => $TOK{ana}, json => [$ID{ana}, $ID{bob}]);
    my $dm = accepted($r, 201, 'direct channel ana-bob by ana');
    $DM = $dm->{id};
    is($dm->{type}, 'D', '... type D');
    is($dm->{name}, join('__', sort $ID{ana}, $ID{bob}), '... named <id>__<id>, sorted');
    is(call(POST => '/api/v4/channels/direct', token => $TOK{bob}, json => [$ID{bob}, $ID{ana}])->{json}{id},
       $DM, 'asked again (by bob, other order): the same channel');
    is(call(POST => '/api/v4/channels/direct', token => $ADMIN, json => [$ID{ana}, $ID{bob}])->{status}, 201,
       'an admin may make a DM between two others');
    refused(call(POST => '/api/v4/channels/direct', token => $TOK{cid}, json => [$ID{ana}, $ID{bob}]), 403,
            'api.context.permissions.app_error', 'the caller must be one of the two unless manage_system');
    refused(call(POST => '/api/v4/channels/direct', token => $TOK{ana}, json => [$ID{ana}, $ID{bob}, $ID{cid}]),
            400, 'api.context.invalid_body_param.app_error', 'three ids');
    refused(call(POST => '/api/v4/channels/direct', token => $TOK{ana}, json => [$ID{ana}, 'bogus']), 400,
            'api.context.invalid_body_param.app_error', 'an invalid id');
    refused(call(POST => '/api/v4/channels/direct', token => $TOK{ana}, json => { a => 1 }), 400,
            'api.payload.parse.error', 'not an array');
    is(accepted(call(POST => '/api/v4/channels/direct', token => $TOK{ana}, json => [$ID{ana}]), 201,
                'one id, the caller\'s: the self channel')->{name}, "$ID{ana}__$ID{ana}", '... named id__id');

    my $gm = accepted(call(POST => '/api/v4/channels/group', token => $TOK{ana}, json => [$ID{bob}, $ID{cid}]),
                      201, 'group of bob and cid by ana: the caller is added');
    $GM = $gm->{id};
    is(scalar $mm->channel_members(channel_id => $GM), 3, 'state: three members');
    like($gm->{name}, qr/^[0-9a-f]{40}\z/, 'named by a SHA-1');
    is(call(POST => '/api/v4/channels/group', token => $TOK{bob}, json => [$ID{ana}, $ID{bob}, $ID{cid}])->{json}{id},
       $GM, 'the same three again: the same channel');
    refused(call(POST => '/api/v4/channels/group', token => $TOK{ana}, json => [$ID{bob}]), 400,
            'api.channel.create_group.bad_size.app_error', 'two with the caller: too few');
    my @nine = map { create_user(username => "g$_", email => "g$_\@example.com")->{json}{id} } 1 .. 8;
    refused(call(POST => '/api/v4/channels/group', token => $TOK{ana}, json => \@nine), 400,
            'api.channel.create_group.bad_size.app_error', 'nine with the caller: too many');
    accepted(call(POST => '/api/v4/channels/group', token => $TOK{ana}, json => [@nine[0 .. 6]]), 201,
             'eight with the caller');
    refused(call(POST => '/api/v4/channels/group', token => $TOK{ana}, json => [$ID{bob}, 'z' x 26]), 400,
            'api.channel.create_group.bad_user.app_error', 'an unknown user');
}

{
    my $p = "/api/v4/channels/$GEN/members";
    my $m = accepted(call(POST => $p, token => $ADMIN, json => { user_id => $ID{ana} }), 201, 'add ana to general');
    is_deeply([@$m{qw(channel_id user_id)}], [$GEN, $ID{ana}], '... the member');
    accepted(call(POST => $p, token => $ADMIN, json => { user_id => $ID{ana} }), 201, 'again: the same member');
    is(scalar $mm->channel_members(channel_id => $GEN, user_id => $ID{ana}), 1, 'state: one row');
    my $list = accepted(call(POST => $p, token => $ADMIN, json => { user_ids => [$ID{bob}, $ID{cid}] }), 201,
                        'user_ids: several at once');
    is(scalar @$list, 2, '... two members back');
    refused(call(POST => $p, token => $ADMIN, json => { user_id => $ID{zed} }), 404,
            'app.team.get_member.missing.app_error', 'a user not on the team');
    refused(call(POST => $p, token => $ADMIN, json => { user_id => 'q' x 26 }), 404,
            'app.user.missing_account.const', 'an unknown user');
    refused(call(POST => $p, token => $ADMIN, json => { user_id => 'bad' }), 400,
            'api.context.invalid_body_param.app_error', 'an invalid user_id');
    refused(call(POST => "/api/v4/channels/$DM/members", token => $ADMIN, json => { user_id => $ID{cid} }), 400,
            'api.channel.add_user_to_channel.type.app_error', 'a member added to a DM');
    refused(call(POST => "/api/v4/channels/$PRIV/members", token => $TOK{bob}, json => { user_id => $ID{cid} }),
            403, 'api.context.permissions.app_error', 'a non-member adding to a private channel');
    refused(call(POST => '/api/v4/channels/' . ('w' x 26) . '/members', token => $ADMIN,
                 json => { user_id => $ID{ana} }), 404, 'app.channel.get.existing.app_error', 'an unknown channel');
}

# ------------------------------------------------------------------ files

my ($FILE_ANA, $FILE_BOB, @FILES);
{
    my $r = call(POST => '/api/v4/files', token => $TOK{ana},
                 multipart([channel_id => $GEN], [files => 'hello file', 'hello.txt'], [files => gif(4, 4), 'a.gif']));
    my $res = accepted($r, 201, 'upload two files as ana');
    is(scalar @{ $res->{file_infos} }, 2, '... two file infos');
    my $fi = $res->{file_infos}[0];
    $FILE_ANA = $fi->{id};
    is_deeply([@$fi{qw(user_id channel_id post_id name size)}], [$ID{ana}, $GEN, '', 'hello.txt', 10],
              'the uploader is the creator, the file is on no post yet');
    is($res->{file_infos}[1]{mime_type}, 'image/gif', 'a GIF');
    $FILE_BOB = call(POST => "/api/v4/files?channel_id=$GEN&filename=b.txt", token => $TOK{bob},
                     body => 'bob bytes')->{json}{file_infos}[0]{id};
    ok($FILE_BOB, 'a raw-body upload with channel_id and filename in the query');
    is($mm->file($FILE_BOB)->{user_id}, $ID{bob}, 'state: bob\'s file');
    @FILES = map { call(POST => "/api/v4/files?channel_id=$GEN&filename=f$_.txt", token => $TOK{ana},
                        body => "f$_")->{json}{file_infos}[0]{id} } 1 .. 11;
    refused(call(POST => '/api/v4/files', token => $TOK{zed}, multipart([channel_id => $GEN], [files => 'x', 'x'])),
            403, 'api.context.permissions.app_error', 'not a member: no upload_file');
    refused(call(POST => '/api/v4/files', token => $ADMIN, multipart([channel_id => 'v' x 26], [files => 'x', 'x'])),
            400, 'api.file.upload_file.incorrect_channelId.app_error', 'an unknown channel');
    my $small = Ferry::Mattermost->new($t, name => 'mm-small', max_file_size => 1000, file_ids_max_runes => 150,
                                       reaction_limit => 2, emoji_max_bytes => 2000)->start;
    my $sgen = call(POST => '/api/v4/channels', mm => $small, token => $small->admin_token,
                    json => { team_id => $small->team_id, name => 'g', display_name => 'g', type => 'O' })->{json}{id};
    refused(call(POST => '/api/v4/files', mm => $small, token => $small->admin_token,
                 multipart([channel_id => $sgen], [files => 'x' x 1001, 'big.bin'])), 413,
            'api.file.upload_file.too_large_detailed.app_error', 'a file over MaxFileSize: 413');
    accepted(call(POST => '/api/v4/files', mm => $small, token => $small->admin_token,
                  multipart([channel_id => $sgen], [files => 'x' x 1000, 'ok.bin'])), 201, 'a file of MaxFileSize');

    # the file_ids limit of older servers (150 runes of JSON: 5 ids)
    my @ids = map { call(POST => "/api/v4/files?channel_id=$sgen&filename=s$_", mm => $small,
                         token => $small->admin_token, body => 's')->{json}{file_infos}[0]{id} } 1 .. 6;
    refused(call(POST => '/api/v4/posts', mm => $small, token => $small->admin_token,
                 json => { channel_id => $sgen, message => 'm', file_ids => \@ids }), 400,
            'model.post.is_valid.file_ids.app_error', 'file_ids_max_runes 150: six files refused');
    is(scalar @{ accepted(call(POST => '/api/v4/posts', mm => $small, token => $small->admin_token,
                               json => { channel_id => $sgen, message => 'm', file_ids => [@ids[0 .. 4]] }), 201,
                          '... five accepted')->{file_ids} }, 5, '... all five attached');

    # the reaction limit and the emoji size, on the small server too
    my $sp = call(POST => '/api/v4/posts', mm => $small, token => $small->admin_token,
                  json => { channel_id => $sgen, message => 'r' })->{json}{id};
    my $sa = $small->admin_id;
    for my $e (qw(smile tada)) {
        accepted(call(POST => '/api/v4/reactions', mm => $small, token => $small->admin_token,
                      json => { user_id => $sa, post_id => $sp, emoji_name => $e }), 200, "reaction $e");
    }
    accepted(call(POST => '/api/v4/reactions', mm => $small, token => $small->admin_token,
                  json => { user_id => $sa, post_id => $sp, emoji_name => 'smile' }), 200,
             'an emoji already on the post does not count again');
    refused(call(POST => '/api/v4/reactions', mm => $small, token => $small->admin_token,
                 json => { user_id => $sa, post_id => $sp, emoji_name => 'rocket' }), 400,
            'app.reaction.save.save.too_many_reactions', 'a third distinct emoji over a limit of 2');
    refused(call(POST => '/api/v4/emoji', mm => $small, token => $small->admin_token,
                 multipart([emoji => $J->encode({ name => 'big', creator_id => $sa })],
                           [image => png(8, 8, pad => 'z' x 2000), 'big.png'])), 413,
            'api.emoji.create.too_large.app_error', 'an emoji request over MaxEmojiFileSize: 413');
    $small->stop;
}

# ------------------------------------------------------------------ posts

my ($ROOT, $REPLY);
{
    my $r = call(POST => '/api/v4/posts', token => $TOK{ana},
                 json => { channel_id => $GEN, message => 'hello', user_id => $ID{bob}, create_at => 1000 });
    my $p = accepted($r, 201, 'ana posts in general');
    $ROOT = $p->{id};
    is($p->{user_id}, $ID{ana}, 'user_id is the caller\'s, not the one sent');
    cmp_ok($p->{create_at}, '>', 1_600_000_000_000, 'create_at from a non-admin is replaced by now');
    my $a = accepted(call(POST => '/api/v4/posts', token => $ADMIN,
                          json => { channel_id => $GEN, message => 'old', create_at => 1500000000000 }),
                     201, 'the admin posts with create_at');
    is($a->{create_at}, 1500000000000, 'create_at kept for manage_system');

    my $reply = accepted(call(POST => '/api/v4/posts', token => $TOK{bob},
                              json => { channel_id => $GEN, message => 'reply', root_id => $ROOT }), 201,
                         'bob replies');
    $REPLY = $reply->{id};
    is($mm->post($REPLY)->{root_id}, $ROOT, 'state: the reply\'s root');
    is(call(GET => "/api/v4/posts/$ROOT", token => $TOK{ana})->{json}{reply_count}, 1, 'the root has 1 reply');
    refused(call(POST => '/api/v4/posts', token => $TOK{bob},
                 json => { channel_id => $GEN, message => 'x', root_id => $REPLY }), 400,
            'api.post.create_post.root_id.app_error', 'a reply to a reply');
    refused(call(POST => '/api/v4/posts', token => $TOK{bob},
                 json => { channel_id => $GEN, message => 'x', root_id => 'k' x 26 }), 400,
            'api.post.create_post.root_id.app_error', 'an unknown root');
    my $other = new_post($ADMIN, $PRIV);
    refused(call(POST => '/api/v4/posts', token => $ADMIN,
                 json => { channel_id => $GEN, message => 'x', root_id => $other->{id} }), 400,
            'api.post.create_post.channel_root_id.app_error', 'a root in another channel');

    accepted(call(POST => '/api/v4/posts', token => $TOK{ana}, json => { channel_id => $GEN, message => 'я' x 16383 }),
             201, 'a message of 16383 runes (Cyrillic, 32766 bytes)');
    refused(call(POST => '/api/v4/posts', token => $TOK{ana}, json => { channel_id => $GEN, message => 'я' x 16384 }),
            400, 'model.post.is_valid.message_length.app_error', 'a message of 16384 runes');
    refused(call(POST => '/api/v4/posts', token => $TOK{zed}, json => { channel_id => $GEN, message => 'x' }), 403,
            'api.context.permissions.app_error', 'not a member of the channel');
    refused(call(POST => '/api/v4/posts', token => $TOK{ana}, json => { channel_id => 'u' x 26, message => 'x' }), 403,
            'api.context.permissions.app_error', 'an unknown channel, for a user');
    refused(call(POST => '/api/v4/posts', token => $ADMIN, json => { channel_id => 'u' x 26, message => 'x' }), 400,
            'api.context.invalid_param.app_error', '... for an admin');
    refused(call(POST => '/api/v4/posts', token => $TOK{ana}, json => { channel_id => $GEN, message => 'x',
                                                                       type => 'system_join_channel' }), 400,
            'api.context.invalid_param.app_error', 'a system_ type');
    refused(call(POST => '/api/v4/posts', token => $TOK{ana}, json => { channel_id => $GEN, message => 'x',
                                                                       type => 'fancy' }), 400,
            'model.post.is_valid.type.app_error', 'an unknown type');
    accepted(call(POST => '/api/v4/posts', token => $TOK{ana}, json => { channel_id => $GEN, message => 'x',
                                                                        type => 'custom_slack' }), 201, 'a custom_ type');
    refused(call(POST => '/api/v4/posts', token => $TOK{ana}, json => { channel_id => $GEN, message => 'x',
                                                                       props => { big => 'p' x 800001 } }), 413,
            'api.context.request_body_too_large.app_error', 'a body over MaximumPayloadSizeBytes: 413');

    # files: the author's attach, another's and an attached one are left off
    my $fp = accepted(call(POST => '/api/v4/posts', token => $TOK{ana},
                           json => { channel_id => $GEN, message => 'files',
                                     file_ids => [$FILE_ANA, $FILE_BOB, $FILE_ANA] }), 201, 'a post with files');
    is_deeply($fp->{file_ids}, [$FILE_ANA], 'bob\'s file silently left off, the duplicate removed');
    is($mm->file($FILE_ANA)->{post_id}, $fp->{id}, 'state: ana\'s file attached');
    is($mm->file($FILE_BOB)->{post_id}, '', 'state: bob\'s file still free');
    is_deeply(accepted(call(POST => '/api/v4/posts', token => $TOK{ana},
                            json => { channel_id => $GEN, message => 'again', file_ids => [$FILE_ANA] }), 201,
                       'a file already on a post')->{file_ids}, [], '... is left off');
    is(scalar @{ accepted(call(POST => '/api/v4/posts', token => $TOK{ana},
                               json => { channel_id => $GEN, message => 'ten', file_ids => [@FILES[0 .. 9]] }), 201,
                          'ten files (300 runes of JSON)')->{file_ids} }, 10, '... all attached');
    refused(call(POST => '/api/v4/posts', token => $TOK{ana},
                 json => { channel_id => $GEN, message => 'eleven', file_ids => [@FILES, $FILE_BOB] }), 400,
            'model.post.is_valid.file_ids.app_error', 'eleven file ids');

    my $g = accepted(call(GET => "/api/v4/posts/$ROOT", token => $TOK{bob}), 200, 'get a post');
    is($g->{message}, 'hello', '... its message');
    refused(call(GET => '/api/v4/posts/' . ('m' x 26), token => $ADMIN), 404, 'app.post.get.app_error',
            'an unknown post');
    refused(call(GET => "/api/v4/posts/$other->{id}", token => $TOK{bob}), 403, 'api.context.permissions.app_error',
            'a post in a private channel of which one is not a member');
    refused(call(GET => '/api/v4/posts/short', token => $ADMIN), 400, 'api.context.invalid_url_param.app_error',
            'an invalid post id');

    my $e = accepted(call(PUT => "/api/v4/posts/$ROOT/patch", token => $TOK{ana}, json => { message => 'edited' }),
                     200, 'the author edits');
    is($e->{message}, 'edited', '... the new message');
    ok($e->{edit_at} > 0, '... edit_at set');
    refused(call(PUT => "/api/v4/posts/$ROOT/patch", token => $TOK{bob}, json => { message => 'x' }), 403,
            'api.context.permissions.app_error', 'another user\'s post (edit_others_posts)');
    accepted(call(PUT => "/api/v4/posts/$ROOT/patch", token => $ADMIN, json => { is_pinned => JSON::PP::true }),
             200, 'an admin patches it');
    refused(call(PUT => '/api/v4/posts/' . ('m' x 26) . '/patch', token => $TOK{ana}, json => { message => 'x' }),
            403, 'api.context.permissions.app_error', 'an unknown post: a permission error');
    refused(call(PUT => "/api/v4/posts/$ROOT/patch", token => $TOK{ana}, json => { message => 'я' x 16384 }), 400,
            'model.post.is_valid.message_length.app_error', 'an edit too long');
}

# ------------------------------------------------------------------ emoji and reactions

my $EMOJI;
{
    my $mk = sub {
        my ($token, $meta, $img, $fname) = @_;
        return call(POST => '/api/v4/emoji', token => $token,
                    multipart([emoji => $J->encode($meta)], defined $img ? [image => $img, $fname // 'e.png'] : ()));
    };
    my $e = accepted($mk->($TOK{ana}, { name => 'party_parrot', creator_id => $ID{ana} }, gif(32, 32), 'p.gif'), 200,
                     'ana creates a custom emoji (GIF)');
    $EMOJI = $e->{id};
    is_deeply([@$e{qw(name creator_id)}], ['party_parrot', $ID{ana}], '... as asked');
    accepted($mk->($TOK{ana}, { name => 'jpeg-one', creator_id => $ID{ana} }, jpeg(64, 48), 'j.jpg'), 200, 'a JPEG');
    accepted($mk->($TOK{ana}, { name => 'png+one', creator_id => $ID{ana} }, png(128, 128)), 200, 'a PNG');
    refused($mk->($TOK{ana}, { name => 'party_parrot', creator_id => $ID{ana} }, png(8, 8)), 400,
            'api.emoji.create.duplicate.app_error', 'the same name again');
    refused($mk->($TOK{ana}, { name => 'bobs', creator_id => $ID{bob} }, png(8, 8)), 403,
            'api.emoji.create.other_user.app_error', 'creator_id not the caller');
    refused($mk->($ADMIN, { name => 'for_ana', creator_id => $ID{ana} }, png(8, 8)), 403,
            'api.emoji.create.other_user.app_error', '... not even for an admin');
    refused($mk->($TOK{ana}, { name => 'smile', creator_id => $ID{ana} }, png(8, 8)), 400,
            'model.emoji.system_emoji_name.app_error', 'a system emoji name');
    refused($mk->($TOK{ana}, { name => 'bad name', creator_id => $ID{ana} }, png(8, 8)), 400,
            'model.emoji.name.app_error', 'a space in the name');
    refused($mk->($TOK{ana}, { name => 'e' x 65, creator_id => $ID{ana} }, png(8, 8)), 400,
            'model.emoji.name.app_error', 'a 65-character name');
    accepted($mk->($TOK{ana}, { name => 'e' x 64, creator_id => $ID{ana} }, png(8, 8)), 200, 'a 64-character name');
    refused($mk->($TOK{ana}, { name => 'notimg', creator_id => $ID{ana} }, "BM\0\0fake bitmap bytes"), 400,
            'api.emoji.upload.image.app_error', 'not a PNG/JPEG/GIF (a BMP)');
    refused($mk->($TOK{ana}, { name => 'huge', creator_id => $ID{ana} }, png(1029, 10)), 400,
            'api.emoji.upload.large_image.too_large.app_error', 'wider than 1028 pixels');
    refused($mk->($TOK{ana}, { name => 'noimg', creator_id => $ID{ana} }), 400,
            'api.context.invalid_body_param.app_error', 'no image part');
    refused(call(POST => '/api/v4/emoji', token => $TOK{ana}, multipart([image => png(8, 8), 'e.png'])), 400,
            'api.context.invalid_body_param.app_error', 'no emoji part');
    refused(call(POST => '/api/v4/emoji', token => $TOK{ana}, json => { name => 'x' }), 400,
            'api.emoji.create.parse.app_error', 'not multipart');
    refused($mk->($TOK{ana}, { name => 'over', creator_id => $ID{ana} }, png(8, 8, pad => 'z' x (1 << 19))), 413,
            'api.emoji.create.too_large.app_error', 'over 512 KiB: 413');
    is(accepted(call(GET => '/api/v4/emoji/name/party_parrot', token => $TOK{bob}), 200, 'emoji by name')->{id},
       $EMOJI, '... the one made');
    refused(call(GET => '/api/v4/emoji/name/nope', token => $TOK{bob}), 404, 'app.emoji.get_by_name.no_result',
            'an unknown emoji');
    refused(call(GET => '/api/v4/emoji/name/bad:name', token => $TOK{bob}), 400,
            'api.context.invalid_url_param.app_error', 'an invalid name in the path');

    my $off = Ferry::Mattermost->new($t, name => 'mm-noemoji', custom_emoji => 0)->start;
    refused(call(POST => '/api/v4/emoji', mm => $off, token => $off->admin_token,
                 multipart([emoji => $J->encode({ name => 'x', creator_id => $off->admin_id })], [image => png(8, 8), 'e.png'])),
            501, 'api.emoji.disabled.app_error', 'custom emoji disabled: create is 501');
    refused(call(GET => '/api/v4/emoji/name/x', mm => $off, token => $off->admin_token), 403,
            'api.emoji.disabled.app_error', '... get by name is 403');
    $off->stop;
}

{
    my $react = sub {
        my ($token, $user, $post, $name, %o) = @_;
        return call(POST => '/api/v4/reactions', token => $token,
                    json => { user_id => $user, post_id => $post, emoji_name => $name, %o });
    };
    my $r = accepted($react->($TOK{bob}, $ID{bob}, $ROOT, '+1'), 200, 'bob reacts +1 (200, as the server)');
    is_deeply([@$r{qw(user_id post_id emoji_name channel_id)}], [$ID{bob}, $ROOT, '+1', $GEN], '... the reaction');
    accepted($react->($TOK{bob}, $ID{bob}, $ROOT, '+1'), 200, 'the same reaction again');
    is(scalar $mm->reactions(post_id => $ROOT, user_id => $ID{bob}), 1, 'state: still one row (the upsert)');
    accepted($react->($TOK{ana}, $ID{ana}, $ROOT, 'party_parrot', create_at => 1234), 200, 'a custom emoji');
    is(($mm->reactions(emoji_name => 'party_parrot'))[0]{create_at}, 1234, 'create_at sent is kept');
    ok($mm->post($ROOT)->{has_reactions}, 'state: the post has reactions');
    is(scalar @{ call(GET => "/api/v4/posts/$ROOT/reactions", token => $TOK{ana})->{json} }, 2,
       'GET the post\'s reactions: 2');
    refused($react->($TOK{ana}, $ID{bob}, $ROOT, 'smile'), 403, 'api.reaction.save_reaction.user_id.app_error',
            'user_id not the caller');
    refused($react->($ADMIN, $ID{bob}, $ROOT, 'smile'), 403, 'api.reaction.save_reaction.user_id.app_error',
            '... not even for an admin');
    refused($react->($TOK{ana}, $ID{ana}, $ROOT, 'no_such_emoji'), 404, 'app.emoji.get_by_name.no_result',
            'an unknown emoji');
    refused($react->($TOK{ana}, $ID{ana}, $ROOT, 'bad:name'), 404, 'app.emoji.get_by_name.no_result',
            'a name the reaction rule refuses is looked up first, so it is not found (404)');
    refused($react->($TOK{ana}, $ID{ana}, $ROOT, ''), 400, 'api.reaction.save_reaction.invalid.app_error',
            'an empty name');
    refused($react->($TOK{ana}, $ID{ana}, $ROOT, 'e' x 65), 400, 'api.reaction.save_reaction.invalid.app_error',
            'a 65-byte name');
    refused($react->($TOK{ana}, $ID{ana}, 'short', 'smile'), 400, 'api.reaction.save_reaction.invalid.app_error',
            'an invalid post id');
    refused($react->($TOK{zed}, $ID{zed}, $ROOT, 'smile'), 403, 'api.context.permissions.app_error',
            'not a member (add_reaction)');
    refused($react->($TOK{ana}, $ID{ana}, 'n' x 26, 'smile'), 403, 'api.context.permissions.app_error',
            'an unknown post, for a user');
    refused($react->($ADMIN, $ID{admin}, 'n' x 26, 'smile'), 404, 'app.post.get.app_error', '... for an admin');
}

# ------------------------------------------------------------------ archiving

{
    my $arch = new_channel('old-news');
    add_members($arch, qw(ana));
    my $p = new_post($TOK{ana}, $arch);
    accepted(call(DELETE => "/api/v4/channels/$arch", token => $ADMIN), 200, 'archive a channel');
    ok($mm->channel($arch)->{delete_at} > 0, 'state: delete_at set, the channel kept');
    refused(call(POST => '/api/v4/posts', token => $TOK{ana}, json => { channel_id => $arch, message => 'x' }), 400,
            'api.post.create_post.can_not_post_to_deleted.error', 'posting to an archived channel');
    refused(call(POST => '/api/v4/reactions', token => $TOK{ana},
                 json => { user_id => $ID{ana}, post_id => $p->{id}, emoji_name => 'smile' }), 403,
            'api.reaction.save.archived_channel.app_error', 'reacting in an archived channel');
    refused(call(PUT => "/api/v4/posts/$p->{id}/patch", token => $TOK{ana}, json => { message => 'x' }), 400,
            'api.post.patch_post.can_not_update_post_in_deleted.error', 'editing in an archived channel');
    refused(call(POST => "/api/v4/channels/$arch/members", token => $ADMIN, json => { user_id => $ID{bob} }), 400,
            'api.channel.add_user_to_channel.deleted.app_error', 'adding a member to it');
    refused(call(DELETE => "/api/v4/channels/$arch", token => $ADMIN), 400,
            'api.channel.delete_channel.deleted.app_error', 'archiving it again');
    refused(call(GET => "/api/v4/teams/$TEAM/channels/name/old-news", token => $ADMIN), 404,
            'app.channel.get_by_name.missing.app_error', 'by name: not found');
    is(accepted(call(GET => "/api/v4/teams/$TEAM/channels/name/old-news?include_deleted=true", token => $ADMIN), 200,
                '... unless include_deleted')->{id}, $arch, '... the archived channel');
    refused(call(POST => '/api/v4/channels', token => $ADMIN,
                 json => { team_id => $TEAM, name => 'old-news', display_name => 'x', type => 'O' }), 400,
            'store.sql_channel.save_channel.exists.app_error', 'its name stays taken');
    my ($town) = $mm->channels(name => 'town-square');
    refused(call(DELETE => "/api/v4/channels/$town->{id}", token => $ADMIN), 400,
            'api.channel.delete_channel.cannot.app_error', 'town-square cannot be archived');
    refused(call(DELETE => "/api/v4/channels/$DM", token => $ADMIN), 400, 'api.channel.delete_channel.type.invalid',
            'a DM cannot be archived');
    refused(call(DELETE => "/api/v4/channels/$GEN", token => $TOK{ana}), 403, 'api.context.permissions.app_error',
            'a user cannot archive a channel they did not create');
}

# ------------------------------------------------------------------ the mm-importer plugin

{
    my $P = '/plugins/mm-importer/api/v1';
    my $r = call(POST => "$P/dm", json => { user_ids => [$ID{ana}, $ID{bob}] });
    is_deeply([$r->{status}, $r->{json}], [401, { error => 'Not authorized' }], 'plugin, no token: 401 Not authorized');
    $r = call(POST => "$P/dm", headers => { 'Mattermost-User-ID' => $ID{admin} },
              json => { user_ids => [$ID{ana}, $ID{bob}] });
    is($r->{status}, 401, 'a Mattermost-User-ID sent by the client is not trusted (the server sets it)');
    $r = call(POST => "$P/dm", token => $TOK{ana}, json => { user_ids => [$ID{ana}, $ID{bob}] });
    is_deeply([$r->{status}, $r->{json}], [403, { error => 'Admin required' }], 'a non-admin token: 403 Admin required');
    $r = call(GET => "$P/hello", token => $ADMIN);
    is("$r->{status} $r->{content}", '200 Hello, world!', '/hello');
    is(call(POST => "$P/channel/unarchive", token => $ADMIN, json => {})->{status}, 404,
       'a route HEAD does not have: 404');

    # /import: any author, create_at kept, no membership or archive checks
    my $arch = $mm->channel(name => 'old-news')->{id};
    $r = call(POST => "$P/import", token => $ADMIN,
              json => { user_id => $ID{cid}, channel_id => $arch, message => 'from slack', create_at => 1400000000000 });
    my $pid = accepted($r, 200, '/import posts as cid into an archived channel cid is not in')->{post_id};
    my $post = $mm->post($pid);
    is_deeply([@$post{qw(user_id create_at)}], [$ID{cid}, 1400000000000], 'state: author and create_at as sent');
    is($post->{props}{from_plugin}, 'true', 'props.from_plugin added by the plugin API');
    is_deeply(call(POST => "$P/import", token => $ADMIN, json => { user_id => $ID{cid}, channel_id => $arch })->{json},
              { error => 'user_id, channel_id, and message are required' }, '/import without a message: 400');
    $r = call(POST => "$P/import", token => $ADMIN, json => '{"user_id": 5}');
    is_deeply([$r->{status}, $r->{json}], [400, { error => 'Invalid JSON' }], '/import with a number for a string: 400');
    $r = call(POST => "$P/import", token => $ADMIN, json => { user_id => $ID{cid}, channel_id => 'c' x 26,
                                                             message => 'x' });
    is($r->{status}, 500, '/import into an unknown channel: 500');
    like($r->{json}{error}, qr/^CreatePostMissingChannel: app\.channel\.get\.existing\.app_error/,
         '... with the AppError as text');
    $r = call(POST => "$P/import", token => $ADMIN, json => { user_id => $ID{cid}, channel_id => $GEN,
                                                             message => 'x', root_id => $REPLY });
    like("$r->{status} $r->{json}{error}", qr/^500 createPost: Invalid RootId parameter/,
         '/import of a reply to a reply: the server\'s root check');

    # files through the plugin belong to "nouser": any post can take them
    $r = call(POST => "$P/attachment", token => $ADMIN,
              json => { channel_id => $GEN, filename => 'b64.txt', content_base64 => encode_base64('plugin bytes', '') });
    my $fid = accepted($r, 200, '/attachment (base64)')->{file_id};
    is($mm->file($fid)->{user_id}, 'nouser', 'its creator is "nouser"');
    is(call(POST => "$P/attachment", token => $ADMIN,
            json => { channel_id => $GEN, filename => 'x', content_base64 => '!!!' })->{status}, 400,
       '/attachment with bad base64: 400');
    $r = call(POST => "$P/attachment_multipart", token => $ADMIN,
              multipart([channel_id => $GEN], [file => 'multi bytes', 'orig.bin']));
    my $fid2 = accepted($r, 200, '/attachment_multipart')->{file_id};
    is($mm->file($fid2)->{name}, 'orig.bin', 'the part\'s filename when no filename field');
    is(call(POST => "$P/attachment_multipart", token => $ADMIN, multipart([channel_id => $GEN]))->{json}{error},
       'file is required', '/attachment_multipart without a file: 400');
    $r = call(POST => "$P/import", token => $ADMIN,
              json => { user_id => $ID{bob}, channel_id => $GEN, message => 'with files', file_ids => [$fid, $fid2] });
    my $fpost = $mm->post(accepted($r, 200, '/import with the plugin\'s files')->{post_id});
    is_deeply($fpost->{file_ids}, [$fid, $fid2], 'both attached to bob\'s post');
    $r = call(POST => "$P/import", token => $ADMIN,
              json => { user_id => $ID{bob}, channel_id => $GEN, message => 'x', file_ids => [$FILE_BOB, $FILES[10]] });
    is_deeply($mm->post($r->{json}{post_id})->{file_ids}, [$FILE_BOB], 'ana\'s file left off bob\'s imported post');

    $r = call(POST => "$P/reaction", token => $ADMIN,
              json => { user_id => $ID{cid}, post_id => $ROOT, emoji_name => 'tada', create_at => 1400000000001 });
    is_deeply([$r->{status}, $r->{json}], [200, {}], '/reaction: 200 {}');
    is(($mm->reactions(user_id => $ID{cid}, emoji_name => 'tada'))[0]{create_at}, 1400000000001, 'state: its create_at');
    $r = call(POST => "$P/reaction", token => $ADMIN,
              json => { user_id => $ID{cid}, post_id => $ROOT, emoji_name => 'thumbs-up-ish' });
    is($r->{status}, 500, '/reaction with an unknown emoji: 500');
    like($r->{json}{error}, qr/We couldn\x{2019}t find the emoji\./, '... "We couldn’t find the emoji." (a typographic apostrophe)');
    unlike($r->{json}{error}, qr/couldn't find the emoji/, '... which the original\'s ASCII "couldn\'t find the emoji" does not match');
    $r = call(POST => "$P/reaction", token => $ADMIN,
              json => { user_id => $ID{cid}, post_id => $pid, emoji_name => 'tada' });
    is($r->{status}, 500, '/reaction on a post of an archived channel: 500 (SaveReactionForPost refuses)');

    # /channel: normalised names; the swapped GetChannelByName arguments
    $r = call(POST => "$P/channel", token => $ADMIN,
              json => { team_id => $TEAM, name => 'Dev Ops.Team', display_name => 'Dev Ops', type => 'O' });
    my $ch = $mm->channel(accepted($r, 200, '/channel creates')->{channel_id});
    is($ch->{name}, 'dev-ops-team', 'the plugin\'s normalisation (spaces and dots to dashes, lower case)');
    $r = call(POST => "$P/channel", token => $ADMIN,
              json => { team_id => $TEAM, name => 'Dev Ops.Team', display_name => 'Dev Ops', type => 'O' });
    is($r->{status}, 500, 'the same channel again: 500, the lookup never finds it (arguments swapped)');
    like($r->{json}{error}, qr/already exists/, '... the server\'s "exists" error');
    $r = call(POST => "$P/channel", token => $ADMIN, json => { team_id => $TEAM, name => 'Новости', type => 'P' });
    like($mm->channel(accepted($r, 200, '/channel with a Cyrillic name')->{channel_id})->{name},
         qr/^ch-[a-z0-9]{6}\z/, 'non-ASCII is dropped: a random ch-xxxxxx');
    $r = call(POST => "$P/channel", token => $ADMIN, json => { team_id => $TEAM, name => 'x', type => 'O' });
    like($mm->channel($r->{json}{channel_id})->{name}, qr/^x-[a-z0-9]{2}\z/, 'one character gets -xx');
    is(call(POST => "$P/channel", token => $ADMIN, json => { team_id => $TEAM, name => 'y', type => 'D' })->{json}{error},
       'team_id, name and valid type are required', '/channel with type D: 400');
    $r = call(POST => "$P/channel", token => $ADMIN, json => { team_id => $TEAM, name => 'long', type => 'O',
                                                              purpose => 'p' x 251 });
    like("$r->{status} $r->{json}{error}", qr/^500 Channel\.IsValid: model\.channel\.is_valid\.purpose\.app_error/,
         'a purpose over 250 (not cut by the original): 500');

    $r = call(POST => "$P/channel/members", token => $ADMIN,
              json => { channel_id => $ch->{id}, user_ids => [$ID{ana}, $ID{zed}, '', $ID{bob}] });
    is_deeply([$r->{status}, $r->{json}], [200, { added => [$ID{ana}, $ID{bob}] }],
              '/channel/members: the ones added (zed is not on the team)');
    is_deeply(call(POST => "$P/channel/members", token => $ADMIN,
                   json => { channel_id => $ch->{id}, user_ids => [$ID{zed}] })->{json}, {},
              'none added: {} ("added" is omitempty)');
    is(call(POST => "$P/channel/members", token => $ADMIN, json => { channel_id => $ch->{id}, user_ids => [] })->{status},
       400, 'no user_ids: 400');
    is_deeply(call(POST => "$P/channel/archive", token => $ADMIN, json => { channel_id => $ch->{id} })->{json}, {},
              '/channel/archive: {}');
    ok($mm->channel($ch->{id})->{delete_at}, 'state: archived');
    is(call(POST => "$P/channel/archive", token => $ADMIN, json => { channel_id => $ch->{id} })->{status}, 500,
       'archiving again: 500');

    is(call(POST => "$P/dm", token => $ADMIN, json => { user_ids => [$ID{ana}, $ID{bob}] })->{json}{channel_id}, $DM,
       '/dm: the existing DM');
    is_deeply(call(POST => "$P/dm", token => $ADMIN, json => { user_ids => [$ID{ana}] })->{json},
              { error => 'user_ids must contain exactly 2 ids' }, '/dm with one id: 400');
    is(call(POST => "$P/gdm", token => $ADMIN, json => { user_ids => [$ID{bob}, $ID{cid}, $ID{ana}] })->{json}{channel_id},
       $GM, '/gdm: the existing group');
    is_deeply(call(POST => "$P/gdm", token => $ADMIN, json => { user_ids => [$ID{ana}, $ID{bob}] })->{json},
              { error => 'user_ids must contain at least 3 ids' }, '/gdm with two ids (a 2-member mpim): 400');
    my @nine = map { $mm->user(username => "g$_")->{id} } 1 .. 8;
    $r = call(POST => "$P/gdm", token => $ADMIN, json => { user_ids => [@nine, $ID{ana}] });
    like("$r->{status} $r->{json}{error}", qr/^500 CreateGroupChannel: api\.channel\.create_group\.bad_size/,
         '/gdm with nine: 500 from the server\'s 3..8');

    my $bare = Ferry::Mattermost->new($t, name => 'mm-noplugin', plugin => 0)->start;
    $r = call(POST => "$P/import", mm => $bare, token => $bare->admin_token, json => {});
    is("$r->{status} $r->{content}", "404 404 page not found\n", 'without the plugin: 404 page not found');
    is(call(GET => '/api/v4/users/me', mm => $bare, token => $bare->admin_token)->{status}, 200,
       '... the REST API still answers');
    ok(!$bare->state->{plugin}, 'state: plugin false');
    $bare->stop;
}

# ------------------------------------------------------------------ bulk import

# a zip of the JSONL and, with files => { name => bytes }, more members
sub import_zip {
    my ($jsonl, %o) = @_;
    my $zip;
    my $z = IO::Compress::Zip->new(\$zip, Name => $o{name} // 'import.jsonl') or die $ZipError;
    $z->print($jsonl);
    for my $name (sort keys %{ $o{files} || {} }) {
        $z->newStream(Name => $name);
        $z->print($o{files}{$name});
    }
    $z->close;
    return $zip;
}

sub upload_import {
    my ($bytes, %o) = @_;
    my $s = call(POST => '/api/v4/uploads', token => $o{token} // $ADMIN,
                 json => { type => 'import', filename => $o{filename} // 'slack.zip', file_size => length $bytes });
    die "upload session: $s->{content}" unless $s->{status} == 201;
    my $id = $s->{json}{id};
    my $r = call(POST => "/api/v4/uploads/$id", token => $ADMIN, body => $bytes);
    die "upload data: $r->{content}" unless $r->{status} == 200;
    return ($id, "${id}_" . ($o{filename} // 'slack.zip'));
}

sub run_job {
    my ($file, %o) = @_;
    my $r = call(POST => '/api/v4/jobs', token => $ADMIN,
                 json => { type => 'import_process', data => { import_file => $file } });
    die "job: $r->{content}" unless $r->{status} == 201;
    my $id = $r->{json}{id};
    my @seen = ($r->{json}{status});
    my $deadline = time + 10;
    while (time < $deadline) {
        my $j = call(GET => "/api/v4/jobs/$id", token => $ADMIN)->{json};
        push @seen, $j->{status} unless $seen[-1] eq $j->{status};
        return ($j, \@seen) if $j->{status} =~ /^(?:success|error)\z/;
        sleep 0.02;
    }
    die "job $id did not finish";
}

{
    my $s = call(POST => '/api/v4/uploads', token => $ADMIN,
                 json => { type => 'import', filename => 'parts.zip', file_size => 10 });
    my $us = accepted($s, 201, 'an import upload session');
    is_deeply([@$us{qw(type file_size file_offset user_id)}], ['import', 10, 0, $ID{admin}], '... as asked');
    my $id = $us->{id};
    is(call(POST => "/api/v4/uploads/$id", token => $ADMIN, body => '12345')->{status}, 204,
       'the first half: 204 (not complete)');
    is(call(GET => "/api/v4/uploads/$id", token => $ADMIN)->{json}{file_offset}, 5, 'the session\'s offset');
    refused(call(POST => "/api/v4/uploads/$id", token => $ADMIN, body => '123456'), 400,
            'api.upload.upload_data.invalid_content_length', 'more than what is left');
    my $fi = accepted(call(POST => "/api/v4/uploads/$id", token => $ADMIN, body => '67890'), 200,
                      'the second half: 200 with the FileInfo');
    is($fi->{size}, 10, '... of the whole file');
    ok(scalar $mm->imports(name => "${id}_parts.zip"), 'state: the import file <upload id>_<filename>');
    refused(call(GET => "/api/v4/uploads/$id", token => $ADMIN), 404, 'app.upload.get.app_error',
            'a finished session is gone');
    refused(call(POST => '/api/v4/uploads', token => $TOK{ana},
                 json => { type => 'import', filename => 'x.zip', file_size => 10 }), 403,
            'api.context.permissions.app_error', 'an import upload needs manage_system');
    refused(call(POST => '/api/v4/uploads', token => $ADMIN, json => { type => 'import', filename => 'x.zip' }), 400,
            'model.upload_session.is_valid.file_size.app_error', 'no file_size');
    refused(call(POST => '/api/v4/uploads', token => $ADMIN,
                 json => { type => 'import', filename => 'x.zip', file_size => 101 * 1024 * 1024 }), 413,
            'api.upload.create.upload_too_large.app_error', 'over MaxFileSize');
    refused(call(POST => '/api/v4/jobs', token => $TOK{ana},
                 json => { type => 'import_process', data => { import_file => 'x' } }), 403,
            'api.context.permissions.app_error', 'a job needs manage_jobs');
    refused(call(POST => '/api/v4/jobs', token => $ADMIN, json => { type => 'nonsense' }), 400,
            'model.job.is_valid.type.app_error', 'an unknown job type');
    refused(call(GET => '/api/v4/jobs/' . ('j' x 26), token => $ADMIN), 404, 'app.job.get.app_error', 'an unknown job');

    my $jsonl = join "\n", map { $J->encode($_) } (
        { type => 'version', version => 1 },
        { type => 'team', team => { name => 'imported', display_name => 'Imported', type => 'O' } },
        { type => 'channel', channel => { team => 'imported', name => 'random', display_name => 'Random', type => 'O',
                                           purpose => 'chat' } },
        { type => 'user', user => { username => 'ivan', email => 'ivan@example.com', auth_service => 'gitlab',
                                    auth_data => '9001',
                                    teams => [ { name => 'imported', channels => [ { name => 'random' } ] } ] } },
        { type => 'user', user => { username => 'olga', email => 'olga@example.com',
                                    teams => [ { name => 'imported', channels => [ { name => 'random' } ] } ] } },
        { type => 'post', post => { team => 'imported', channel => 'random', user => 'ivan', message => 'root',
                                    create_at => 1600000000000,
                                    reactions => [ { user => 'olga', emoji_name => 'smile', create_at => 1600000000500 } ],
                                    replies => [ { user => 'olga', message => 'reply one', create_at => 1600000001000 },
                                                 { user => 'ivan', message => 'reply two', create_at => 1600000002000 } ] } },
        { type => 'direct_channel', direct_channel => { members => [qw(ivan olga)] } },
        { type => 'direct_post', direct_post => { channel_members => [qw(ivan olga)], user => 'olga',
                                                  message => 'private', create_at => 1600000003000 } },
        { type => 'emoji', emoji => { name => 'imported_emoji', image => 'emoji/x.png' } },
    ) ;
    my (undef, $file) = upload_import(import_zip("$jsonl\n", files => { 'data/emoji/x.png' => png(8, 8) }));
    my ($job, $seen) = run_job($file);
    is($job->{status}, 'success', 'a valid JSONL import: success') or diag explain $job;
    is_deeply($seen, [qw(pending in_progress success)], 'the job went pending, in_progress, success');
    my $team = $mm->team(name => 'imported');
    ok($team, 'state: the imported team');
    my $random = $mm->channel(name => 'random', team_id => $team->{id});
    is($random->{purpose}, 'chat', 'state: the imported channel');
    my $ivan = $mm->user(username => 'ivan');
    is($ivan->{auth_data}, '9001', 'state: ivan with his auth_data');
    ok(scalar $mm->channel_members(channel_id => $random->{id}, user_id => $ivan->{id}), 'state: ivan in random');
    my ($root) = $mm->posts(channel_id => $random->{id}, message => 'root');
    is($root->{create_at}, 1600000000000, 'state: the root post with its create_at');
    is(scalar $mm->posts(root_id => $root->{id}), 2, 'state: its two replies');
    is(scalar $mm->reactions(post_id => $root->{id}, emoji_name => 'smile'), 1, 'state: its reaction');
    my $dm = $mm->channel(name => join('__', sort $ivan->{id}, $mm->user(username => 'olga')->{id}));
    is($dm->{type}, 'D', 'state: the direct channel');
    is(scalar $mm->posts(channel_id => $dm->{id}, message => 'private'), 1, 'state: the direct post');
    ok($mm->emoji_named(name => 'imported_emoji'), 'state: the emoji line recorded');

    ($job) = run_job((upload_import(import_zip("$jsonl\n", files => { "data/emoji/x.png" => png(8, 8) })))[1]);
    is($job->{status}, 'success', 'importing the same file again: success');
    is(scalar $mm->posts(channel_id => $random->{id}, message => 'root'), 1, '... the post is not made twice');

    my $bad = sub {
        my ($body, $id, $line, $what, %o) = @_;
        my ($j) = run_job((upload_import($o{raw} // import_zip($body, %o)))[1]);
        is(join(' ', $j->{status}, $j->{data}{error_id} // '-', $j->{data}{line_number} // '-'),
           "error $id $line", $what) or diag explain $j;
        return $j;
    };
    my $j = $bad->($J->encode({ type => 'user', user => { username => 'u', email => 'u@x.y' } }) . "\n",
                   'app.import.process_import_data_file_version_line.invalid_version.error', 1,
                   'the first line is not a version line');
    like($j->{data}{error}, qr/version/, '... data.error says so');
    $bad->($J->encode({ type => 'version', version => 2 }) . "\n", 'app.import.bulk_import.unsupported_version.error', 1,
           'version 2');
    $bad->(qq({"type":"version","version":1}\n{"type":"team","team":{"name":"t2","display_name":"T","type":"O"}}\n{not json\n),
           'app.import.bulk_import.json_decode.error', 3, 'a line that is not JSON (line 3)');
    $bad->(qq({"type":"version","version":1}\n{"type":"widget","widget":{}}\n), 'app.import.import_line.unknown_line_type.error',
           2, 'an unknown line type');
    $bad->(qq({"type":"version","version":1}\n{"type":"post","post":null}\n), 'app.import.import_line.null_post.error', 2,
           'a null post');
    $bad->(qq({"type":"version","version":1}\n{"type":"post","post":{"team":"imported","channel":"random","user":"ivan","create_at":1}}\n),
           'app.import.validate_post_import_data.message_missing.error', 2, 'a post without a message');
    $bad->(qq({"type":"version","version":1}\n{"type":"channel","channel":{"team":"imported","name":"Bad Name","type":"O"}}\n),
           'app.import.validate_channel_import_data.name_characters.error', 2, 'a channel name with a space');
    $bad->(qq({"type":"version","version":1}\n{"type":"user","user":{"username":"no email"}}\n),
           'app.import.validate_user_import_data.username_invalid.error', 2, 'an invalid username');
    $bad->(qq({"type":"version","version":1}\n{"type":"post","post":{"team":"imported","channel":"nochan","user":"ivan","message":"m","create_at":5}}\n),
           'app.import.import_post.channel_not_found.error', 2, 'a post in an unknown channel');
    # stricter, as the server's validators are (imports/import_validators.go)
    $bad->(qq({"type":"version","version":1}\n{"type":"post","post":{"team":"imported","channel":"random","user":"ivan","message":"m","create_at":5,"replies":[{"user":"ivan","message":"r","create_at":0}]}}\n),
           'app.import.validate_reply_import_data.create_at_zero.error', 2, 'a reply at create_at 0');
    $bad->(qq({"type":"version","version":1}\n{"type":"post","post":{"team":"imported","channel":"random","user":"ivan","message":"m","create_at":5,"reactions":[{"user":"ivan","emoji_name":"smile","create_at":4}]}}\n),
           'app.import.validate_reaction_import_data.create_at_before_parent.error', 2, 'a reaction before its post');
    $bad->(qq({"type":"version","version":1}\n{"type":"post","post":{"team":"imported","channel":"random","user":"ivan","message":"m","create_at":5,"attachments":[{"path":"../../etc/passwd"}]}}\n),
           'app.import.validate_post_import_data.attachment.error', 2, 'an attachment path out of data/');
    $bad->(qq({"type":"version","version":1}\n{"type":"emoji","emoji":{"name":"nofile","image":"emoji/none.png"}}\n),
           'app.import.emoji.bad_file.error', 2, 'an emoji whose image is not in the zip');
    $bad->(qq({"type":"version","version":1}\n{"type":"user","user":{"username":"bademail","email":"not an address"}}\n),
           'model.user.is_valid.email.app_error', 2, 'a user Mattermost would not save (its e-mail)');
    $bad->(qq({"type":"version","version":1}\n), 'import_process.worker.do_job.missing_jsonl', '-',
           'no .jsonl at the zip\'s root', name => 'sub/import.jsonl');
    $bad->('', 'import_process.worker.do_job.open_file', '-', 'not a zip', raw => 'plain bytes, not a zip');
    my $r = call(POST => '/api/v4/jobs', token => $ADMIN,
                 json => { type => 'import_process', data => { import_file => 'missing.zip' } });
    my ($mj) = run_job('missing.zip');
    is("$mj->{status} $mj->{data}{error_id}", 'error import_process.worker.do_job.file_exists',
       'an import_file that was never uploaded');
}

# ------------------------------------------------------------------ rate limiting, faults, latency

{
    my $rl = Ferry::Mattermost->new($t, name => 'mm-rl', rate_limit => { per_sec => 5, max_burst => 2 })->start;
    my @r = map { call(GET => '/api/v4/users/me', mm => $rl, token => $rl->admin_token) } 1 .. 4;
    is_deeply([map { $_->{status} } @r], [200, 200, 200, 429], 'a burst of 2 (+1): the fourth is limited');
    is_deeply([map { $_->{headers}{'x-ratelimit-remaining'} } @r[0 .. 2]], [2, 1, 0],
              'X-RateLimit-Remaining counts down');
    is($r[0]{headers}{'x-ratelimit-limit'}, 3, 'X-RateLimit-Limit: MaxBurst + 1');
    is($r[3]{content}, "limit exceeded\n", '429: the plain-text body http.Error writes');
    like($r[3]{headers}{'content-type'}, qr{^text/plain}, '... as text/plain');
    is($r[3]{headers}{'retry-after'}, 1, 'Retry-After: whole seconds, rounded up');
    ok(defined $r[3]{headers}{'x-ratelimit-reset'} && $r[3]{headers}{'x-ratelimit-reset'} >= 1,
       'X-RateLimit-Reset: seconds until reset');
    ok(!exists $r[0]{headers}{'retry-after'}, 'no Retry-After when not limited');
    sleep 0.25;
    is(call(GET => '/api/v4/users/me', mm => $rl, token => $rl->admin_token)->{status}, 200,
       'one emission interval later a request passes');
    is(call(GET => '/api/v4/users/me', mm => $rl, token => $rl->admin_token)->{status}, 429, '... and the next is limited');
    $rl->stop;

    my $f = Ferry::Mattermost->new($t, name => 'mm-faults', latency => 0.2)->start;
    my $t0 = time;
    is(call(GET => '/api/v4/users/me', mm => $f, token => $f->admin_token)->{status}, 200, 'latency 0.2: answered');
    cmp_ok(time - $t0, '>=', 0.2, '... after at least 0.2 s');
    $f->fault(path => '/api/v4/posts', times => 1, status => 503);
    $f->fault(path => '/api/v4/users/me', times => 1, latency => 0.2);
    refused(call(POST => '/api/v4/posts', mm => $f, token => $f->admin_token, json => {}), 503, '(no id)',
            'a scripted 503 answers before the emulator');
    is(call(POST => '/api/v4/posts', mm => $f, token => $f->admin_token, json => {})->{status}, 400,
       '... then the emulator again (an empty post: 400)');
    $t0 = time;
    call(GET => '/api/v4/users/me', mm => $f, token => $f->admin_token);
    cmp_ok(time - $t0, '>=', 0.4, 'a latency fault adds to the emulator\'s latency');
    $f->fault(path => '/api/v4/users', method => 'POST', times => 1, drop => 1);
    is(call(POST => '/api/v4/users', mm => $f, token => $f->admin_token,
            json => { username => 'dropped', email => 'd@example.com', password => 'Password-1' })->{status}, 599,
       'a dropped connection');
    ok(!$f->user(username => 'dropped'), '... the user was not created');
    is(scalar $f->journal(path => '/api/v4/users', dropped => 1), 1, 'the journal records the drop');
    $f->latency(0);
    $t0 = time;
    call(GET => '/api/v4/users/me', mm => $f, token => $f->admin_token);
    cmp_ok(time - $t0, '<', 0.2, 'latency set to 0 while running');

    # the benchmark's emulator: 5 ms a post, timed by a keep-alive client
    # from sending to reading the answer, never less
    my $fch = call(POST => '/api/v4/channels', mm => $f, token => $f->admin_token,
                   json => { team_id => $f->team_id, name => 'timed', display_name => 'timed',
                             type => 'O' })->{json}{id};
    $f->latency(0.005);
    my $body = $J->encode({ channel_id => $fch, message => 'timed' });
    my @took = $f->peer->timed_calls("POST /api/v4/posts HTTP/1.1\r\nHost: mm\r\nAuthorization: Bearer "
        . $f->admin_token . "\r\nContent-Type: application/json\r\nContent-Length: " . length($body)
        . "\r\n\r\n$body", 30, 201);
    is(scalar @took, 30, 'latency 5 ms: 30 posts made');
    cmp_ok($took[0], '>=', 0.005, sprintf('... none answered in less than 5 ms (the quickest %.3f ms, '
           . 'the median %.3f ms)', $took[0] * 1000, $took[15] * 1000));
    $f->latency(0);
    $f->stop;
}

# ------------------------------------------------------------------ state

{
    my $st = $mm->state;
    is($st->{admin_id}, $ID{admin}, 'state: admin_id');
    is($st->{team_id}, $TEAM, 'state: team_id');
    ok(!grep({ exists $_->{password} } @{ $st->{users} }), 'state: no passwords');
    is_deeply([map { $_->{username} } @{ $st->{users} }[0 .. 4]], [qw(sysadmin ana bob cid dee)],
              'state: users in creation order');
    is($mm->token_for('ana'), $TOK{ana}, 'token_for: a seeded token');
    my @mine = $mm->posts(user_id => $ID{ana});
    ok(!grep({ $_->{user_id} ne $ID{ana} } @mine) && @mine > 3, 'posts(user_id => ...) filters');
}

$t->done;
