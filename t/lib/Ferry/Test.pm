package Ferry::Test;

# Test harness for Ferry's integration tests, in the spirit of nginx-tests'
# Test::Nginx: one temp dir per test file, a private PostgreSQL (initdb into
# the temp dir, unix socket only, random port), the real ferryd and the real
# nginx with the built module, on random loopback ports; everything is torn
# down when the test ends, dies or is interrupted. done() adds a final check
# that no log holds an [alert], a crash or a sanitizer report.

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA;
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use IO::Socket::UNIX;
use JSON::PP;
use POSIX qw(:sys_wait_h setsid);
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(sleep time);

our $ROOT = abs_path(dirname(__FILE__) . '/../../..');
our $BUILD = $ENV{FERRY_BUILD} || "$ROOT/build";
our $ASAN = $ENV{FERRY_ASAN} ? 1 : 0;
our $PGBIN = $ENV{PGBIN} || '/usr/lib/postgresql/15/bin';
our $NGINX = $ENV{NGINX_BIN} || '/usr/sbin/nginx';
our $JSON = JSON::PP->new->canonical->allow_nonref;

my @instances;

sub new {
    my ($class, %opt) = @_;

    my $dir = tempdir('ferry-test-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{FERRY_TEST_KEEP});
    # nginx workers (www-data) and postgres must reach their files here.
    chmod 0755, $dir;

    my $self = bless {
        dir => $dir,
        pid => $$,
        procs => {},
        env => {},
        %opt,
    }, $class;

    push @instances, $self;
    return $self;
}

sub dir { $_[0]{dir} }
sub root { $ROOT }
sub build { $BUILD }
sub json { $JSON }

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
        or die "cannot find a free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub has_binaries {
    return -x "$BUILD/ferryd" && -f "$BUILD/ngx_http_ferry_module.so" && -x $NGINX;
}

sub skip_unless_built {
    plan(skip_all => "ferryd or the module is not built in $BUILD (run ./build.sh build)")
        unless has_binaries();
}

sub is_root { $> == 0 }

sub write_file {
    my ($self, $name, $content, $mode) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    make_path(dirname($path));
    open my $fh, '>', $path or die "cannot write $path: $!";
    binmode $fh;
    print $fh $content;
    close $fh;
    chmod $mode, $path if defined $mode;
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '<', $path or return '';
    binmode $fh;
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c // '';
}

# ------------------------------------------------------------------ processes

# Forks a child in its own process group with stdin from /dev/null and
# stdout/stderr appended to $opt{log} (NAME.out), runs $child in it and
# records the pid under $name.
sub fork_child {
    my ($self, $name, $child, %opt) = @_;

    my $log = $opt{log} // "$self->{dir}/$name.out";
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or die "$log: $!";
        open STDERR, '>&', \*STDOUT;
        $child->();
    }

    $self->{procs}{$name} = $pid;
    return $pid;
}

# Starts a program in its own process group; $opt{user} drops privileges
# (initdb and postgres refuse to run as root).
sub spawn {
    my ($self, $name, $cmd, %opt) = @_;

    return $self->fork_child($name, sub {
        %ENV = (%ENV, %{ $self->{env} }, %{ $opt{env} || {} });
        if ($opt{user} && is_root()) {
            my (undef, undef, $uid, $gid) = getpwnam($opt{user})
                or die "no user $opt{user}";
            $( = $) = "$gid $gid";
            $< = $> = $uid;
        }
        chdir $opt{cwd} if $opt{cwd};
        exec @$cmd or die "exec $cmd->[0]: $!";
    }, %opt);
}

# Like spawn, for a daemon written in Perl (Ferry::Peer): $code runs in a
# forked child, in its own process group, and the child never returns into
# the test script, whose END blocks are not its own.
sub spawn_sub {
    my ($self, $name, $code, %opt) = @_;

    my $pid = $self->fork_child($name, sub {
        STDOUT->autoflush(1);
        my $ok = eval { $code->(); 1 };
        print STDERR "$name: $@" unless $ok;
        POSIX::_exit($ok ? 0 : 1);
    }, %opt);
    $self->{group}{$name} = 1;
    return $pid;
}

sub alive {
    my ($self, $name) = @_;
    my $pid = $self->{procs}{$name} or return 0;
    return 0 if waitpid($pid, WNOHANG) == $pid;
    return kill(0, $pid);
}

# Sends a signal and waits for the process to exit; returns its wait status.
sub stop_proc {
    my ($self, $name, $sig, $timeout) = @_;
    my $pid = delete $self->{procs}{$name} or return;
    $sig //= 'TERM';
    $timeout //= 15;

    kill $sig, ($self->{group}{$name} ? -$pid : $pid);
    my $deadline = time + $timeout;
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return $? if $r == $pid || $r == -1;
        sleep 0.02;
    }
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return $?;
}

sub wait_for {
    my ($self, $what, $cond, $timeout) = @_;
    my $deadline = time + ($timeout // 20);
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.05;
    }
    die "timed out waiting for $what\n";
}

sub run_cmd {
    my ($self, $cmd, %opt) = @_;
    my $out = "$self->{dir}/cmd.out";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        %ENV = (%ENV, %{ $self->{env} }, %{ $opt{env} || {} });
        if ($opt{user} && is_root()) {
            my (undef, undef, $uid, $gid) = getpwnam($opt{user});
            $( = $) = "$gid $gid";
            $< = $> = $uid;
        }
        exec @$cmd or die "exec: $!";
    }
    waitpid($pid, 0);
    my $status = $?;
    return wantarray ? ($status >> 8, $self->read_file($out)) : $status >> 8;
}

# ------------------------------------------------------------------ PostgreSQL

sub start_pg {
    my ($self) = @_;
    my $pg = "$self->{dir}/pg";

    unless ($self->{pg_port}) {
        make_path("$pg/data", "$pg/run");
        if (is_root()) {
            my (undef, undef, $uid, $gid) = getpwnam('postgres');
            chown $uid, $gid, $pg, "$pg/data", "$pg/run";
        }
        my ($rc, $out) = $self->run_cmd(
            ["$PGBIN/initdb", '-D', "$pg/data", '-A', 'trust', '-U', 'postgres',
             '-E', 'UTF8', '--no-locale', '--no-sync'],
            user => 'postgres');
        die "initdb failed: $out" if $rc;
        $self->{pg_port} = free_port();
        $self->{pg_host} = "$pg/run";
    }

    $self->spawn('postgres',
        ["$PGBIN/postgres", '-D', "$pg/data", '-p', $self->{pg_port},
         '-k', "$pg/run", '-c', "listen_addresses=", '-c', 'fsync=off',
         '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
         # for profiling: statements slower than this (e.g. 100, or 0ms
         # for every one) go to pg/postgres.log with their time
         ($ENV{FERRY_PG_SLOW_MS} ? ('-c', "log_min_duration_statement=$ENV{FERRY_PG_SLOW_MS}") : ())],
        user => 'postgres', log => "$pg/postgres.log");

    $self->wait_for('PostgreSQL', sub {
        $self->run_cmd(["$PGBIN/pg_isready", '-q', '-h', $self->{pg_host},
                        '-p', $self->{pg_port}]) == 0
    });

    unless ($self->{pg_db_created}) {
        $self->psql('CREATE DATABASE ferry', db => 'postgres');
        $self->{pg_db_created} = 1;
    }

    $self->{env}{DATABASE_URL} = $self->database_url;
    return $self;
}

sub stop_pg {
    my ($self) = @_;
    $self->stop_proc('postgres', 'INT');
}

sub database_url {
    my ($self) = @_;
    return "postgresql:///ferry?host=$self->{pg_host}&port=$self->{pg_port}&user=postgres";
}

# Runs SQL through psql; returns the unaligned, tuples-only output.
sub psql {
    my ($self, $sql, %opt) = @_;
    my ($rc, $out) = $self->run_cmd(
        ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
         '-h', $self->{pg_host}, '-p', $self->{pg_port}, '-U', 'postgres',
         '-d', $opt{db} // 'ferry', '-c', $sql]);
    die "psql failed ($sql): $out" if $rc && !$opt{may_fail};
    chomp $out;
    return $out;
}

# ------------------------------------------------------------------ ferryd

sub ferryd_socket { "$_[0]{dir}/ferryd.sock" }

sub ferryd_cmd {
    my ($self, @args) = @_;
    return ["$BUILD/ferryd", @args];
}

# The HS256 secret shared by nginx (ferry_jwt_secret_file
# %%DIR%%/jwt.secret) and ferryd (JWT_SECRET_FILE).
# The key report links are signed with: HMAC-SHA256 of the JWT secret and
# common/ferry_link.c's label.
sub link_key {
    my ($self) = @_;
    require Digest::SHA;
    return Digest::SHA::hmac_sha256('ferry signed download link v1', $self->jwt_secret);
}

sub jwt_secret {
    my ($self) = @_;
    return $self->{jwt_secret} //= do {
        my $s = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 48;
        $self->write_file('jwt.secret', "$s\n");
        $s;
    };
}

sub write_ferryd_conf {
    my ($self, %set) = @_;
    $self->jwt_secret;
    my %conf = (
        JWT_SECRET_FILE => "$self->{dir}/jwt.secret",
        FERRY_SOCKET => $self->ferryd_socket,
        DATABASE_URL => $self->database_url,
        MIGRATIONS_DIR => "$ROOT/migrations",
        LOG_LEVEL => 'debug',
        LOG_FILE => "$self->{dir}/ferryd.log",
        (is_root() ? (SOCKET_GROUP => 'www-data') : ()),
        %set,
    );
    my $text = join '', map { "$_=$conf{$_}\n" } sort grep { defined $conf{$_} } keys %conf;
    return $self->write_file('ferryd.conf', $text);
}

sub migrate {
    my ($self, @args) = @_;
    my $conf = $self->{ferryd_conf} // $self->write_ferryd_conf;
    my ($rc, $out) = $self->run_cmd($self->ferryd_cmd('-c', $conf, 'migrate', @args ? @args : 'up'));
    die "ferryd migrate failed ($rc): $out" if $rc;
    return $out;
}

sub start_ferryd {
    my ($self, %set) = @_;
    my $conf = $self->{ferryd_conf} = $self->write_ferryd_conf(%set);
    my $sock = $self->ferryd_socket;

    $self->spawn('ferryd', $self->ferryd_cmd('-c', $conf));
    $self->wait_for('ferryd socket', sub {
        die "ferryd exited:\n" . $self->read_file('ferryd.out')
            . $self->read_file('ferryd.log') . "\n"
            unless $self->alive('ferryd');
        -S $sock && IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock)
    });
    return $self;
}

sub stop_ferryd {
    my ($self, $sig) = @_;
    return $self->stop_proc('ferryd', $sig);
}

# One request straight to ferryd's socket; returns ($head_hashref, $body).
sub ferryd_request {
    my ($self, $req) = @_;
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $self->ferryd_socket)
        or die "connect: $!";
    my $payload = ref $req ? $JSON->encode($req) : $req;
    print $s pack('N', length $payload) . $payload;
    return read_response($s);
}

sub read_response {
    my ($s) = @_;
    my $hdr = read_exact($s, 4) // return;
    my $head = read_exact($s, unpack('N', $hdr)) // return;
    my $h = $JSON->decode($head);
    my $body = read_exact($s, $h->{length}) // return;
    return ($h, $body);
}

sub read_exact {
    my ($s, $n) = @_;
    my $buf = '';
    while (length $buf < $n) {
        my $r = sysread($s, $buf, $n - length $buf, length $buf);
        return undef unless $r;
    }
    return $buf;
}

# ------------------------------------------------------------------ nginx

sub port { $_[0]{port} //= free_port() }

# Writes nginx.conf around an http{} snippet, with $t->{nginx_main} (e.g.
# a thread_pool) in the main context. Placeholders: %%PORT%%, %%DIR%%,
# %%SOCK%% (ferryd's socket), %%ROOT%%.
sub write_nginx_conf {
    my ($self, $http) = @_;
    my $main = $self->{nginx_main} // '';
    my $module = "$BUILD/ngx_http_ferry_module.so";
    my $user = is_root() ? "user www-data;\n" : '';
    # debug detail for failing tests; benchmarks ask for less
    my $level = $self->{nginx_log_level} // 'debug';
    my $conf = <<"EOF";
load_module $module;
${user}worker_processes 1;
daemon off;
master_process on;
pid %%DIR%%/nginx.pid;
error_log %%DIR%%/error.log $level;
events { worker_connections 1024; }
$main
http {
    access_log %%DIR%%/access.log;
    client_body_temp_path %%DIR%%/client_body;
    proxy_temp_path %%DIR%%/proxy_temp;
    fastcgi_temp_path %%DIR%%/fastcgi_temp;
    uwsgi_temp_path %%DIR%%/uwsgi_temp;
    scgi_temp_path %%DIR%%/scgi_temp;
$http
}
EOF
    $conf = $self->expand($conf);
    return $self->write_file('nginx.conf', $conf);
}

sub expand {
    my ($self, $text) = @_;
    my $port = $self->port;
    my $sock = $self->ferryd_socket;
    $text =~ s/%%PORT%%/$port/g;
    $text =~ s/%%DIR%%/$self->{dir}/g;
    $text =~ s/%%SOCK%%/$sock/g;
    $text =~ s/%%ROOT%%/$ROOT/g;
    return $text;
}

sub start_nginx {
    my ($self, $http) = @_;
    my $conf = $self->write_nginx_conf($http) if defined $http;
    $conf //= "$self->{dir}/nginx.conf";
    my %env = $self->nginx_env;

    my ($rc, $out) = $self->run_cmd([$NGINX, '-t', '-q', '-p', "$self->{dir}/", '-c', $conf],
                                    env => \%env);
    die "nginx -t failed:\n$out" if $rc;

    $self->spawn('nginx', [$NGINX, '-p', "$self->{dir}/", '-c', $conf], env => \%env);
    my $port = $self->port;
    $self->wait_for('nginx', sub {
        die "nginx exited:\n" . $self->read_file('error.log') unless $self->alive('nginx');
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp')
    });
    return $self;
}

# The environment nginx runs in: the ASan runtime when the module has it.
sub nginx_env {
    my ($self) = @_;
    return $ASAN ? (LD_PRELOAD => asan_runtime(),
                    ASAN_OPTIONS => 'detect_leaks=0:log_path=' . "$self->{dir}/asan-nginx")
                 : ();
}

# nginx -t on a config file: (exit code, output).
sub nginx_test {
    my ($self, $conf) = @_;
    return $self->run_cmd([$NGINX, '-t', '-p', "$self->{dir}/", '-c', $conf],
                          env => { $self->nginx_env });
}

sub stop_nginx {
    my ($self) = @_;
    $self->stop_proc('nginx', 'QUIT');
}

sub asan_runtime {
    my $p = `gcc -print-file-name=libasan.so`;
    chomp $p;
    return $p;
}

# ------------------------------------------------------------------ HTTP

sub http {
    my ($self, $method, $path, %opt) = @_;
    my $ua = HTTP::Tiny->new(timeout => $opt{timeout} // 30, keep_alive => 0);
    my %args = (headers => $opt{headers} || {});
    if (exists $opt{json}) {
        $args{content} = $JSON->encode($opt{json});
        $args{headers}{'Content-Type'} //= 'application/json';
    } elsif (exists $opt{body}) {
        $args{content} = $opt{body};
    }
    my $res = $ua->request($method, "http://127.0.0.1:" . ($opt{port} // $self->port) . $path,
                           \%args);
    $res->{json} = eval { $JSON->decode($res->{content}) }
        if ($res->{headers}{'content-type'} // '') =~ m{json};
    return $res;
}

# A connected socket to nginx, for requests written by hand.
sub connect_nginx {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $self->port, Proto => 'tcp')
        or die "connect: $!";
    return $s;
}

# Reads one HTTP response from a socket: (status, headers hashref, body).
sub read_http {
    my ($s) = @_;
    local $/;
    my $r = <$s> // '';
    my ($head, $body) = split /\r\n\r\n/, $r, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head // '';
    return ($status // 0, \%h, $body // '');
}

# A multipart upload of $mb MB (the "file" field, printable bytes) written
# 64 KiB at a time to $path, while the worker's RSS is sampled: the answer's
# status and body, the SHA-256 of the bytes sent, and the worker's RSS
# before and at its peak (kB).
sub upload_big {
    my ($self, $path, $mb) = @_;
    my ($worker) = $self->nginx_workers;
    my $rss = sub { (`grep VmRSS /proc/$worker/status` =~ /(\d+)/)[0] };
    my %r = (before => $rss->(), peak => 0);
    my $chunk = join('', map { chr(32 + ($_ * 7) % 90) } 1 .. 65536);
    my $sha = Digest::SHA->new(256);
    my $head = "--BoUnDaRy\r\nContent-Disposition: form-data; name=\"file\"; "
             . "filename=\"big.bin\"\r\n\r\n";
    my $tail = "\r\n--BoUnDaRy--\r\n";
    my $s = $self->connect_nginx;
    print $s "POST $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           . "Content-Type: multipart/form-data; boundary=BoUnDaRy\r\nContent-Length: "
           . (length($head) + $mb * 16 * length($chunk) + length($tail)) . "\r\n\r\n$head";
    for my $i (1 .. $mb * 16) {
        print $s $chunk;
        $sha->add($chunk);
        if ($i % 400 == 0) { my $m = $rss->(); $r{peak} = $m if $m > $r{peak}; }
    }
    print $s $tail;
    ($r{status}, undef, $r{body}) = read_http($s);
    $r{sha256} = $sha->hexdigest;
    return \%r;
}

# A chunked POST of the given chunks, text/plain: (status, headers, body).
sub post_chunked {
    my ($self, $path, @chunks) = @_;
    my $s = $self->connect_nginx;
    print $s "POST $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           . "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
    print $s sprintf("%x\r\n%s\r\n", length $_, $_) for @chunks;
    print $s "0\r\n\r\n";
    return read_http($s);
}

# The pids of nginx's worker processes.
sub nginx_workers {
    my ($self) = @_;
    my $master = $self->{procs}{nginx} or return;
    return grep { (`ps -o ppid= -p $_` =~ /(\d+)/)[0] == $master }
           map { /(\d+)/ } `pgrep -P $master`;
}

# A directory the nginx worker user can write (the spool).
sub writable_dir {
    my ($self, $name) = @_;
    my $d = "$self->{dir}/$name";
    mkdir $d;
    chmod 0777, $d;
    return $d;
}

# A raw HTTP/1.0 exchange, for requests HTTP::Tiny will not send.
sub http_raw {
    my ($self, $request) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $self->port, Proto => 'tcp')
        or die "connect: $!";
    print $s $request;
    local $/;
    my $r = <$s>;
    return $r // '';
}

# ------------------------------------------------------------------ fake ferryd

# A stand-in for ferryd that misbehaves on purpose (garbage, oversize heads,
# split writes), to check that the module survives a broken peer. $handler
# gets the request payload and the connection number and returns a list of
# byte strings, written with a short pause between them.
sub start_fake_ferryd {
    my ($self, $handler) = @_;
    my $sock = $self->ferryd_socket;
    unlink $sock;
    my $srv = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $sock, Listen => 16)
        or die "fake ferryd: $!";
    chmod 0666, $sock;

    my $pid = fork // die;
    if ($pid == 0) {
        setsid();
        my $n = 0;
        $SIG{CHLD} = 'IGNORE';
        while (my $c = $srv->accept) {
            $n++;
            my $conn = $n;
            next if fork;
            while (1) {
                my $hdr = read_exact($c, 4) // last;
                my $payload = read_exact($c, unpack('N', $hdr)) // last;
                my @out = $handler->($payload, $conn);
                for my $i (0 .. $#out) {
                    syswrite($c, $out[$i]);
                    sleep 0.05 if $i < $#out;
                }
            }
            exit 0;
        }
        exit 0;
    }
    close $srv;
    $self->{procs}{fake_ferryd} = $pid;
    $self->{group}{fake_ferryd} = 1;
    return $self;
}

sub response_frame {
    my ($status, $body, %headers) = @_;
    my $head = $JSON->encode({ v => 1, status => $status, length => length $body,
                               headers => { 'Content-Type' => 'application/json', %headers } });
    return pack('N', length $head) . $head . $body;
}

# The http{} snippet of Ferry's import front line (accounts, uploads with
# idempotency, job reads), as conf/ferry-locations.conf has it; $extra goes
# into the server block.
sub imports_conf {
    my ($extra) = @_;
    $extra //= '';
    return <<"EOF";
    ferry_zone idem:1m;
    upstream ferryd { server unix:%%SOCK%%; keepalive 8; }
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_jwt_secret_file %%DIR%%/jwt.secret;
        ferry_spool_path %%DIR%%/spool;
        location = /auth/register { ferry_pass ferryd; }
        location = /auth/token { ferry_pass ferryd; }
        location = /imports {
            ferry_auth jwt;
            ferry_idempotency required;
            ferry_upload field=file;
            ferry_pass ferryd;
        }
        location /imports/ { ferry_auth jwt; ferry_pass ferryd; }
$extra
    }
EOF
}

# The http{} snippet of conf/ferry-locations.conf as shipped, in a server
# with the files it needs (JWT and Slack secrets, the spool); its basic
# auth reads ferry-api.htpasswd in the test's dir, written by the test.
sub shipped_conf {
    my ($self) = @_;
    $self->jwt_secret;
    $self->write_file('slack.secret', "slack-signing-secret-for-tests\n");
    $self->writable_dir('spool');
    return <<"EOF";
    ferry_zone ferry_idem:1m;
    upstream ferryd { server unix:%%SOCK%%; keepalive 8; }
    server {
        listen 127.0.0.1:%%PORT%%;
        ferry_jwt_secret_file %%DIR%%/jwt.secret;
        ferry_spool_path %%DIR%%/spool;
        ferry_slack_signing_secret_file %%DIR%%/slack.secret;
        include %%ROOT%%/conf/ferry-locations.conf;
    }
EOF
}

# How many Grist sync cycles ferryd has ended (its INFO or WARN line).
sub sync_cycles {
    my ($self) = @_;
    my @l = grep { /sync cycle:/ } split /\n/, $self->read_file('ferryd.log');
    return scalar @l;
}

# Waits for n more sync cycles to end.
sub wait_sync_cycles {
    my ($self, $n, $timeout) = @_;
    my $want = $self->sync_cycles + ($n // 1);
    $self->wait_for("$want sync cycles", sub { $self->sync_cycles >= $want }, $timeout // 120);
}

# ferry-api.htpasswd with one user, as ./build.sh run writes it (openssl's
# apr1 hash); returns the Authorization header's value for that user.
sub api_user {
    my ($self, $user, $password) = @_;
    my ($rc, $hash) = $self->run_cmd(['sh', '-c',
        "printf '%s\\n' '$password' | openssl passwd -apr1 -stdin"]);
    chomp $hash;
    die "openssl: $hash" if $rc;
    $self->write_file('ferry-api.htpasswd', "$user:$hash\n");
    chmod 0644, $self->dir . '/ferry-api.htpasswd';
    require MIME::Base64;
    return 'Basic ' . MIME::Base64::encode_base64("$user:$password", '');
}

# A user registered through nginx and a token for it (needs /auth/register
# and /auth/token locations).
sub user_token {
    my ($self, $email, $password) = @_;
    $password //= 'password-' . $email;
    my $r = $self->http(POST => '/auth/register', json => { email => $email, password => $password });
    die "register $email: $r->{status} $r->{content}" unless $r->{status} == 201;
    $r = $self->http(POST => '/auth/token', json => { email => $email, password => $password });
    die "token $email: $r->{status} $r->{content}" unless $r->{status} == 200;
    return $r->{json}{access_token};
}

# ------------------------------------------------------------------ tokens

# An HS256 JWT made independently of Ferry's C code, to check the module.
# %opt: header => {...} to replace the header, key => to sign with another
# key, sig => a literal signature segment.
sub jwt {
    my ($secret, $claims, %opt) = @_;
    require Digest::SHA;
    require MIME::Base64;
    my $enc = sub { MIME::Base64::encode_base64url($_[0]) };
    my $h = $opt{header} // { alg => 'HS256', typ => 'JWT' };
    my $input = $enc->(ref $h ? $JSON->encode($h) : $h) . '.'
              . $enc->(ref $claims ? $JSON->encode($claims) : $claims);
    my $sig = $opt{sig} // $enc->(Digest::SHA::hmac_sha256($input, $opt{key} // $secret));
    return "$input.$sig";
}

# ------------------------------------------------------------------ checks

sub log_problems {
    my ($self) = @_;
    my @bad;
    my $err = $self->read_file('error.log');
    push @bad, grep { /\[(alert|emerg)\]|exited on signal|AddressSanitizer|runtime error/ }
        split /\n/, $err;
    for my $f (glob("$self->{dir}/asan-*"), "$self->{dir}/ferryd.log", "$self->{dir}/ferryd.out") {
        my $c = $self->read_file($f);
        push @bad, grep { /AddressSanitizer|LeakSanitizer|runtime error/ } split /\n/, $c;
    }
    # a Ferry::Peer handler that died is a bug in the emulator, not in Ferry,
    # but it makes the test's answers meaningless
    for my $f (glob("$self->{dir}/peer-*.log")) {
        push @bad, grep { /\[(error|fatal)\]/ } split /\n/, $self->read_file($f);
    }
    return @bad;
}

sub done {
    my ($self) = @_;
    my @bad = $self->log_problems;
    ok(!@bad, 'no alerts, crashes or sanitizer reports in the logs')
        or diag(join "\n", @bad[0 .. ($#bad < 20 ? $#bad : 20)]);
    $self->teardown;
    done_testing();
}

sub teardown {
    my ($self) = @_;
    # a forked child (a test's client, the fake ferryd) must not tear down
    # what its parent started
    return if $self->{pid} != $$;
    $self->stop_proc('nginx', 'QUIT', 5) if $self->{procs}{nginx};
    for my $name (grep { $_ ne 'postgres' } keys %{ $self->{procs} }) {
        $self->stop_proc($name, 'TERM', 10);
    }
    $self->stop_proc('postgres', 'QUIT', 10) if $self->{procs}{postgres};
}

END {
    my $rc = $?;
    $_->teardown for @instances;
    $? = $rc;
}

$SIG{INT} = $SIG{TERM} = sub { exit 130 };

1;
