#!/usr/bin/perl
# ferryd migrate: up in order, idempotent, down for the last one, and a
# migration that fails halfway is rolled back with the SQL error shown.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
$t->start_pg;

# The project's own migrations.
my $out = $t->migrate('up');
my @files = sort glob($t->root . '/migrations/*.up.sql');
ok(@files >= 1, 'the project has migrations');
is($t->psql('SELECT count(*) FROM schema_migrations'), scalar @files,
   'every migration recorded in schema_migrations');
is($t->psql("SELECT to_regclass('public.jobs') IS NOT NULL"), 't', 'jobs table exists');
like($t->migrate('up'), qr/up to date/i, 'running up again changes nothing');
is($t->psql('SELECT count(*) FROM schema_migrations'), scalar @files, 'still the same count');

# A private migrations dir: 001 fine, 002 fails halfway, 003 never runs.
my $m = $t->dir . '/mig';
$t->write_file("$m/001_a.up.sql", "CREATE TABLE mig_a (id int);\n");
$t->write_file("$m/001_a.down.sql", "DROP TABLE mig_a;\n");
$t->write_file("$m/002_b.up.sql",
    "CREATE TABLE mig_b (id int);\nINSERT INTO mig_b VALUES (1);\nSELECT no_such_column FROM mig_b;\n");
$t->write_file("$m/002_b.down.sql", "DROP TABLE mig_b;\n");
$t->write_file("$m/003_c.up.sql", "CREATE TABLE mig_c (id int);\n");

my $db = $t->database_url;
$db =~ s{/ferry\?}{/mig?};
$t->psql('CREATE DATABASE mig', db => 'postgres');
my $conf = $t->write_file('mig.conf', "DATABASE_URL=$db\nMIGRATIONS_DIR=$m\nFERRY_SOCKET=" . $t->dir . "/m.sock\n");
my %env = (DATABASE_URL => $db);

my ($rc, $err) = $t->run_cmd($t->ferryd_cmd('-c', $conf, 'migrate', 'up'), env => \%env);
isnt($rc, 0, 'a failing migration: non-zero exit');
like($err, qr/no_such_column/, 'the SQL error is shown');
like($err, qr/002/, 'the failing migration is named');

my $q = sub { my ($sql) = @_; my ($c, $o) = $t->run_cmd(['psql', '-X', '-Atq', '-d', $db, '-c', $sql]); chomp $o; $o };
is($q->("SELECT to_regclass('public.mig_a') IS NOT NULL"), 't', '001 before it stays applied');
is($q->("SELECT to_regclass('public.mig_b') IS NULL"), 't', '002 rolled back: its table is gone');
is($q->("SELECT to_regclass('public.mig_c') IS NULL"), 't', '003 after it never ran');
is($q->('SELECT string_agg(version::text, \',\' ORDER BY version) FROM schema_migrations'), '1',
   'only 001 is recorded');

# Fix 002 and go on.
$t->write_file("$m/002_b.up.sql", "CREATE TABLE mig_b (id int);\n");
($rc, $err) = $t->run_cmd($t->ferryd_cmd('-c', $conf, 'migrate', 'up'), env => \%env);
is($rc, 0, 'after the fix: up succeeds') or diag $err;
is($q->("SELECT count(*) FROM schema_migrations"), '3', 'all three recorded');

($rc, $err) = $t->run_cmd($t->ferryd_cmd('-c', $conf, 'migrate', 'down'), env => \%env);
isnt($rc, 0, 'down without a .down.sql for the last one: error') ;
like($err, qr/003/, 'naming the migration');

$t->write_file("$m/003_c.down.sql", "DROP TABLE mig_c;\n");
($rc, $err) = $t->run_cmd($t->ferryd_cmd('-c', $conf, 'migrate', 'down'), env => \%env);
is($rc, 0, 'down reverts the last one') or diag $err;
is($q->("SELECT to_regclass('public.mig_c') IS NULL"), 't', 'its table is dropped');
is($q->("SELECT max(version) FROM schema_migrations"), '2', 'and its record removed');

$t->done;
