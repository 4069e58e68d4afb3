#!/usr/bin/perl
# Ferry::Grist, the Grist emulator ferryd's sync is tested against, with a
# real HTTP client: each rule it copies from grist-core answers with
# Grist's status and error text, the update-time column moves as Grist's
# trigger formula would, and /sql answers the forms the sync sends and
# refuses what the emulator does not read. Needs no PostgreSQL, nginx or
# ferryd.

use strict;
use warnings;
use utf8;
use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Ferry::Test;

BEGIN {
    eval { require Mojolicious; 1 }
        or plan skip_all => 'Mojolicious is not installed (apt-get install libmojolicious-perl)';
}
use Ferry::Grist;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $t = Ferry::Test->new;
my $J = JSON::PP->new->utf8->canonical;
my $SEEDED = time - 3600;
my $g = Ferry::Grist->new($t, seed_at => $SEEDED, tables => {
    Roles => [ { Code => 'ORGANIZER', Name => 'Организатор' },
               { Code => 'VOLUNTEER', Name => 'Волонтёр' } ],
    Teams => [ { UUID => 'a' x 32, team_name => 'Кухня', type_of_team => 'Городская служба' },
               { UUID => 'b' x 32, team_name => 'Сцена', type_of_team => 'Полевая служба' } ],
    People => [ { ntn_id => 'c' x 32, name => 'Ана' }, { ntn_id => 'd' x 32, name => 'Боб' } ],
})->start;
my $D = '/tables';

sub error_is {
    my ($r, $status, $re, $what) = @_;
    my $err = ref $r->{json} eq 'HASH' ? $r->{json}{error} // '(no error)' : $r->{content};
    ok($r->{status} == $status && $err =~ $re, $what) or diag "$r->{status} $r->{content}";
}

# ------------------------------------------------------------------ auth, 404, 400

error_is($g->api(GET => "$D/Teams/records", undef, key => undef), 403, qr/^No view access$/,
         'no key: 403 No view access');
error_is($g->api(GET => "$D/Teams/records", undef, key => 'wrong'), 401,
         qr/^Bad request: invalid API key$/, 'a wrong key: 401');
is($g->api(GET => "$D/Teams/records", undef, key => $g->viewer_key)->{status}, 200,
   'the viewer key reads');
error_is($g->api(POST => "$D/Teams/records", { records => [ { fields => {} } ] },
                 key => $g->viewer_key), 403, qr/^No write access$/, 'the viewer key cannot write');
my $r = HTTP::Tiny->new->get($g->url . '/api/docs/nodoc/tables/Teams/records',
                             { headers => { Authorization => 'Bearer ' . $g->api_key } });
is($r->{status}, 404, 'an unknown document: 404');
error_is($g->api(GET => "$D/Nope/records"), 404, qr/^Table not found "Nope"$/, 'an unknown table');
error_is($g->api(POST => "$D/Teams/records", { records => [ { fields => { nope => 1 } } ] }),
         400, qr/^Invalid column "nope"$/, 'an unknown column on POST');
error_is($g->api(PATCH => "$D/Teams/records", { records => [ { id => 1, fields => { x => 1 } } ] }),
         400, qr/^Invalid column "x"$/, 'an unknown column on PATCH');
error_is($g->api(POST => "$D/Teams/records", '{"records":'), 400, qr/^Invalid payload$/,
         'a body that is not JSON');

# ------------------------------------------------------------------ records

my $teams = $g->api(GET => "$D/Teams/records")->{json}{records};
is_deeply([ map { $_->{fields}{team_name} } @$teams ], [ 'Кухня', 'Сцена' ], 'GET records');
ok(abs($teams->[0]{fields}{updated_at} - $SEEDED) < 1, 'seeded rows carry their update time');
error_is($g->api(GET => "$D/Teams/records?filter=" . _enc('{"team_name":"Кухня"}')), 400,
         qr/^Invalid query: filter values must be arrays$/, 'filter values must be arrays');
$r = $g->api(GET => "$D/Teams/records?filter=" . _enc($J->encode({ UUID => [ 'b' x 32 ] })));
is_deeply([ map { $_->{id} } @{ $r->{json}{records} } ], [ 2 ], 'filter by a column');
$r = $g->api(GET => "$D/Teams/records?sort=-team_name&limit=1");
is_deeply([ map { $_->{id} } @{ $r->{json}{records} } ], [ 2 ], 'sort descending and limit');

$r = $g->api(POST => "$D/Badges_2026/records", { records => [
    { fields => { name => 'Бейдж', role => 'Волонтёр', infant => JSON::PP::true,
                  directions_ref => [ 'L', 1, 2 ], person => 1 } },
    { fields => { name => 'Второй', role => 'Никто' } } ] });
is_deeply($r->{json}, { records => [ { id => 1 }, { id => 2 } ] }, 'POST answers the new ids');
my $b1 = $g->api(GET => "$D/Badges_2026/records?filter=" . _enc('{"id":[1]}'))->{json}{records}[0]{fields};
is($b1->{role}, 2, 'a Ref written as its display value is stored as the row id');
is_deeply($b1->{directions_ref}, [ 'L', 1, 2 ], 'a RefList reads back as ["L", ids]');
ok($b1->{infant} && ref $b1->{infant}, 'a Bool reads back as true');
is($g->row(Badges_2026 => 2)->{role}, 'Никто', 'an unknown display value is kept as alt text');
my $t0 = $g->row(Badges_2026 => 1)->{updated_at};
ok($t0 > time - 60, 'a new row gets updated_at');

error_is($g->api(PATCH => "$D/Badges_2026/records", { records => [
    { id => 1, fields => { name => 'x' } }, { id => 2, fields => { diet => 'y' } } ] }),
    400, qr/^PATCH requires all records to have same fields$/, 'PATCH: same fields in every record');
error_is($g->api(PATCH => "$D/Badges_2026/records", { records => [ { id => 99, fields => { name => 'x' } } ] }),
    400, qr/^Invalid row id 99$/, 'PATCH: an unknown row');
sleep 0.05;
is($g->api(PATCH => "$D/Badges_2026/records", { records => [ { id => 1, fields => { name => 'Бейдж' } } ] })->{status},
   200, 'PATCH with the value it has');
is($g->row(Badges_2026 => 1)->{updated_at}, $t0, 'a PATCH that changes nothing leaves updated_at');
$r = $g->api(PATCH => "$D/Badges_2026/records", { records => [ { id => 1, fields => { name => 'Новое' } } ] });
is($r->{content}, 'null', 'PATCH answers null');
ok($g->row(Badges_2026 => 1)->{updated_at} > $t0, 'a PATCH that changes a value moves updated_at');

$r = $g->api(PUT => "$D/Roles/records", { records => [
    { require => { Code => 'VOLUNTEER' }, fields => { Name => 'Волонтер' } },
    { require => { Code => 'MEDIC' }, fields => { Name => 'Медик' } } ] });
is($r->{status}, 200, 'PUT');
is_deeply([ map { "$_->{fields}{Code}=$_->{fields}{Name}" } @{ $g->rows('Roles') } ],
          [ 'ORGANIZER=Организатор', 'VOLUNTEER=Волонтер', 'MEDIC=Медик' ],
          'PUT updates the row its require matches and adds the one it does not');
$g->api(PUT => "$D/Roles/records?noadd=true", { records => [ { require => { Code => 'X' } } ] });
is(scalar @{ $g->rows('Roles') }, 3, 'PUT noadd adds nothing');

error_is($g->api(POST => "$D/Badges_2026/records/delete", [ 7 ]), 400, qr/^Invalid row id 7$/,
         'records/delete: an unknown row');
is($g->api(POST => "$D/Badges_2026/records/delete", [ 2 ])->{status}, 200, 'records/delete');
is_deeply([ map { $_->{id} } @{ $g->rows('Badges_2026') } ], [ 1 ], 'the row is gone');

my $big = { records => [ map { { fields => { comment => 'x' x 1000 } } } 1 .. 1100 ] };
error_is($g->api(POST => "$D/Teams/records", $big), 413, qr/too large/, 'a body over 1 MB: 413');

# ------------------------------------------------------------------ sql

sub sql { my ($q, @args) = @_; return $g->api(POST => '/sql', { sql => $q, args => \@args }) }

$r = sql('SELECT * FROM Teams WHERE Teams.updated_at >= ? ORDER BY Teams.id', 0);
is_deeply([ map { $_->{fields}{team_name} } @{ $r->{json}{records} } ], [ 'Кухня', 'Сцена' ],
          'POST /sql with args');
is($r->{json}{statement}, 'SELECT * FROM Teams WHERE Teams.updated_at >= ? ORDER BY Teams.id',
   'the answer carries the statement');
$r = sql('SELECT Badges_2026.*, People.to_delete AS person_to_delete, People.name AS pname '
         . 'FROM Badges_2026 LEFT JOIN People ON Badges_2026.person = People.id');
my $row = $r->{json}{records}[0]{fields};
is($row->{pname}, 'Ана', 'LEFT JOIN brings the joined column under its alias');
is($row->{directions_ref}, '[1,2]', 'a RefList is the text SQLite holds');
is($row->{infant}, 1, 'a Bool is 0/1');
ok(exists $row->{person_to_delete} && !defined $row->{person_to_delete}, 'a NULL joined cell');
$g->edit(Badges_2026 => { 1 => { person => 0 } });
$row = sql('SELECT Badges_2026.id, People.name AS pname FROM Badges_2026 '
           . 'LEFT JOIN People ON Badges_2026.person = People.id')->{json}{records}[0]{fields};
is_deeply($row, { id => 1, pname => undef }, 'a LEFT JOIN without a match keeps the row');
$r = $g->api(GET => '/sql?q=' . _enc('select id from Teams where id > 1'));
is_deeply($r->{json}{records}, [ { fields => { id => 2 } } ], 'GET /sql?q= with a literal');
$r = sql('SELECT id FROM Teams WHERE id IN (?, ?) ORDER BY id DESC LIMIT 1', 1, 2);
is_deeply($r->{json}{records}, [ { fields => { id => 2 } } ], 'IN, ORDER BY DESC, LIMIT');
error_is(sql('DELETE FROM Teams'), 400, qr/^only select statements are supported$/, 'not a SELECT');
error_is(sql('SELECT count(*) FROM Teams'), 400, qr/^emulator: unsupported SQL/,
         'what the emulator does not read is refused');
error_is(sql('SELECT * FROM Teams WHERE id = 1 OR id = 2'), 400, qr/^emulator: unsupported SQL/,
         'OR is refused');
error_is(sql('SELECT * FROM Nope'), 400, qr/^no such table: Nope$/, "SQLite's unknown table");
error_is(sql('SELECT nope FROM Teams'), 400, qr/^no such column: nope$/, "SQLite's unknown column");
error_is(sql('SELECT id FROM Teams WHERE id > ?'), 400, qr/fewer args/, 'a ? without its arg');
my @log = $g->sql_log;
ok(@log >= 5 && $log[0]{rows} == 2, 'the SQL log counts the rows of each answer');

# ------------------------------------------------------------------ test side

my $ids = $g->seed(People => [ { name => 'Вика' } ], at => 1000);
is($g->row(People => $ids->[0])->{updated_at}, 1000, 'seed with an update time');
$g->edit(People => { $ids->[0] => { city => 'Тверь' } });
ok($g->row(People => $ids->[0])->{updated_at} > time - 60, 'an edit moves updated_at');
$g->remove(People => $ids->[0]);
ok(!$g->row(People => $ids->[0]), 'remove deletes the row outright');

# ------------------------------------------------------------------ limits and faults

# 11 requests at once while each takes 0.5 s: the 11th is refused
$g->latency(0.5);
my @socks;
for (1 .. 11) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $g->peer->port) or die $!;
    print $s "GET /api/docs/" . $g->doc . "/tables/Teams/records HTTP/1.1\r\nHost: x\r\n"
        . "Authorization: Bearer " . $g->api_key . "\r\nConnection: close\r\n\r\n";
    push @socks, $s;
    sleep 0.02;
}
my @status = map { my $s = $_; local $/; my $a = <$s>; $a =~ m{^HTTP/1.1 (\d+)} ? $1 : 0 } @socks;
is(scalar(grep { $_ == 429 } @status), 1, 'the 11th request at once on a document: 429');
is(scalar(grep { $_ == 200 } @status), 10, 'the first 10 are answered');
$g->latency(0);
my @j = $g->journal(status => 429);
like($j[0]{path}, qr{/tables/Teams/records$}, 'the 429 is in the journal');

$g->fault(path => '/api/docs/:doc/sql', status => 503, times => 1);
is(sql('SELECT id FROM Teams')->{status}, 503, 'an injected 5xx');
is(sql('SELECT id FROM Teams')->{status}, 200, 'then the emulator answers again');

$t->done;

sub _enc { my ($s) = @_; utf8::encode($s) if utf8::is_utf8($s); $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge; $s }
