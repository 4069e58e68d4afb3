package Ferry::Peer;

# A scripted HTTP server for the integration tests, the base of the
# Mattermost, Grist and Slack emulators: routes with placeholders answered by
# Perl closures, a journal of every request that the test process reads from
# a file, and faults (latency, 429, 5xx, dropped connections, slow bodies)
# that the test switches on and off while the peer runs. Mojo's HTTP server
# (Mojo::Server::Daemon, without Mojolicious' router) serves it in a forked
# process of its own, registered with a Ferry::Test instance so it is torn
# down with the rest.

use strict;
use warnings;
use feature qw(current_sub state);

use Carp qw(croak);
use Digest::SHA;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Mojo::IOLoop;
use Mojo::JSON ();
use Mojo::Asset::Memory;
use Mojo::Log;
use Mojo::Message::Response;
use Mojo::Parameters;
use Mojo::Path;
use Mojolicious::Routes::Pattern;
use POSIX ();
use Scalar::Util qw(blessed);
use Time::HiRes qw(clock_gettime sleep time CLOCK_MONOTONIC);

# A JSON codec: Cpanel::JSON::XS when installed (Mojolicious' own choice),
# JSON::PP otherwise. JSON::PP was a third of an emulator's time per
# request (its journal, the bodies it reads).
sub json_codec {
    my $class = eval { require Cpanel::JSON::XS; 'Cpanel::JSON::XS' } // 'JSON::PP';
    return $class->new->canonical->allow_nonref;
}

my $JSON = json_codec()->utf8;

# Bodies up to this size are kept whole in the journal; larger ones only by
# length and sha256, so a test of a 100 MB upload does not write it twice.
my $SMALL_BODY = 16 * 1024;

# Pieces a streamed answer is written in when no slow_body fault asks for less.
my $PIECE = 64 * 1024;

sub new {
    my ($class, $t, %opt) = @_;
    my $name = $opt{name} // 'main';
    croak "peer name '$name': letters, digits, '.', '_' or '-' only"
        unless $name =~ /^[\w.-]+$/;
    return bless {
        t => $t,
        name => $name,
        proc => "peer-$name",
        journal_file => $t->dir . "/peer-$name.journal",
        log_file => $t->dir . "/peer-$name.log",
        routes => [],
        latency => _check_latency($opt{latency} // 0),
        # journal => 0: no journal (a benchmark's hundred thousand requests
        # would cost a JSON line and a sha256 each)
        journal => $opt{journal} // 1,
    }, $class;
}

sub name { $_[0]{name} }
sub port { $_[0]{port} }
sub url { 'http://127.0.0.1:' . $_[0]{port} }
sub pid { $_[0]{t}{procs}{ $_[0]{proc} } }
sub journal_file { $_[0]{journal_file} }
sub log_file { $_[0]{log_file} }

# $method: 'GET', an array of methods, or 'ANY'. $pattern: Mojolicious route
# syntax ('/users/:id', '/files/#name', '/static/*rest'). Routes are tried
# in the order they were added; they must all be added before start, as the
# handlers run in the peer process. %opt: limit => { key => sub { $req ->
# a key, or undef for none }, max => n, answer => sub { $req -> (status,
# body, headers) } }: when n requests of one key are already waiting for
# their answer (latency included), the next is answered at once by answer,
# as a server caps the requests it works on at a time.
sub route {
    my ($self, $method, $pattern, $handler, %opt) = @_;
    croak "peer $self->{name}: route $pattern added after start" if $self->{port};
    croak "peer $self->{name}: route $pattern needs a handler" unless ref $handler eq 'CODE';
    my @methods = map { uc } ref $method ? @$method : ($method);
    @methods = () if grep { $_ eq 'ANY' || $_ eq '*' } @methods;
    croak "peer $self->{name}: route $pattern: limit is { key, max, answer }"
        if $opt{limit} && grep { ref $opt{limit}{$_} ne 'CODE' } qw(key answer);
    push @{ $self->{routes} }, { methods => \@methods, pattern => $pattern, handler => $handler,
                                 limit => $opt{limit} };
    return $self;
}

# A handler's answer body that is sent from a file, piece by piece.
sub file {
    my ($path) = @_;
    $path = $_[1] if @_ > 1;
    croak "no file $path" unless -f $path;
    return bless { path => $path }, 'Ferry::Peer::File';
}

sub start {
    my ($self) = @_;
    croak "peer $self->{name} already started" if $self->{port};

    # Bound here rather than in the child, so the port is known before the
    # fork and no other test can take it in between.
    my $listen = IO::Socket::INET->new(Listen => 128, LocalAddr => '127.0.0.1', LocalPort => 0,
                                       Proto => 'tcp', ReuseAddr => 1)
        or die "peer $self->{name}: cannot listen: $!";
    $self->{port} = $listen->sockport;
    open my $j, '>', $self->{journal_file} or die "$self->{journal_file}: $!";
    close $j;

    $self->{t}->spawn_sub($self->{proc}, sub { $self->_serve($listen) }, log => $self->{log_file});
    close $listen;

    my $ua = HTTP::Tiny->new(timeout => 2, keep_alive => 0);
    $self->{t}->wait_for("peer $self->{name}", sub {
        die "peer $self->{name} exited:\n" . $self->{t}->read_file($self->{log_file}) . "\n"
            unless $self->{t}->alive($self->{proc});
        $ua->get($self->url . '/__peer/ping')->{status} == 200;
    });
    return $self;
}

sub stop {
    my ($self) = @_;
    return $self->{t}->stop_proc($self->{proc}, 'TERM', 10);
}

# ------------------------------------------------------------------ journal

# The requests the peer has answered, oldest first, each a hash: id, time,
# method, path (as sent), url (path and query), query (hash; an array for a
# repeated name), headers (lower-case names), remote_port, body_length,
# body_sha256, body (bytes, only when at most 16 KiB), json (when the body
# parsed as JSON), route (the pattern that matched, undef for a 404), and the
# outcome: answer_time, status, fault (the fault applied), dropped (the peer
# closed without answering), client_closed (the client left first), error
# (the handler died). %filter: key => value (eq), qr// or a sub on the value;
# pending => 1 adds requests still waiting for an answer.
sub journal {
    my ($self, %filter) = @_;
    my $pending = delete $filter{pending};

    my (%by_id, @order);
    open my $fh, '<', $self->{journal_file} or return;
    while (my $line = <$fh>) {
        # a line still being written is read next time
        last unless $line =~ /\n\z/;
        my $e = $JSON->decode($line);
        my $id = $e->{id};
        if (!$by_id{$id}) {
            push @order, $id;
            $by_id{$id} = $e;
        } else {
            %{ $by_id{$id} } = (%{ $by_id{$id} }, %$e);
        }
    }
    close $fh;

    my @out;
    REQUEST: for my $e (map { $by_id{$_} } @order) {
        next if !$pending && !exists $e->{answer_time};
        for my $k (keys %filter) {
            my ($want, $have) = ($filter{$k}, $e->{$k});
            if (ref $want eq 'Regexp') {
                next REQUEST unless defined $have && $have =~ $want;
            } elsif (ref $want eq 'CODE') {
                next REQUEST unless $want->($have);
            } else {
                next REQUEST unless defined $have && defined $want && $have eq $want
                                    || !defined $have && !defined $want;
            }
        }
        push @out, $e;
    }
    return @out;
}

# Waits until the journal holds n requests matching %filter (see journal);
# returns them, or what there is when the timeout passes.
sub wait_for_requests {
    my ($self, %opt) = @_;
    my $n = delete $opt{n} // 1;
    my $timeout = delete $opt{timeout} // 10;
    my $deadline = time + $timeout;
    while (1) {
        my @r = $self->journal(%opt);
        return @r if @r >= $n || time >= $deadline;
        sleep 0.02;
    }
}

# A client's view of the peer's latency: $request (a whole HTTP/1.1 request,
# sent in one write: a body written apart from its headers would wait for
# Nagle's algorithm) sent $n times on one keep-alive connection, each time
# until the whole answer is read. Returns the seconds each call took, from
# sending to reading the last byte, sorted; stops at an answer other than
# $status (200).
sub timed_calls {
    my ($self, $request, $n, $status) = @_;
    $status //= 200;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $self->port)
        or croak "peer $self->{name}: connect: $!";
    my @took;
    for (1 .. $n) {
        my $t0 = clock_gettime(CLOCK_MONOTONIC);
        syswrite($s, $request) == length $request or croak "peer $self->{name}: write: $!";
        my $buf = '';
        until ($buf =~ /\r\n\r\n/ && length($') >= ($buf =~ /^Content-Length: (\d+)/im)[0]) {
            sysread($s, $buf, 65536, length $buf) or croak "peer $self->{name}: read: $!";
        }
        push @took, clock_gettime(CLOCK_MONOTONIC) - $t0;
        last unless $buf =~ m{^HTTP/1\.1 $status };
    }
    return sort { $a <=> $b } @took;
}

# ------------------------------------------------------------------ faults

# Adds a fault at the end of the list; returns its id. A request takes the
# first fault that matches it and still has requests left, then the route's
# handler answers the requests no fault takes. Keys:
#   method, path      which requests (path in route syntax); all when absent
#   times             how many requests; all of them (until cleared) when absent
#   latency           seconds to wait before answering (or dropping)
#   status            answer this status instead of the handler: 429, 5xx...
#   retry_after       Retry-After header (seconds) with the status
#   rate_limit_reset  X-RateLimit-Reset header, as given
#   headers, body     more headers, and the body (string, or data sent as JSON)
#   drop              close the connection without an answer
#   slow_body         { chunk => bytes, delay => seconds }: the answer, the
#                     handler's or the fault's, goes out in small pieces
sub fault {
    my ($self, %f) = @_;
    return $self->_control(POST => '/__peer/faults', \%f)->{id};
}

# The faults still active, with left (requests left, undef for all) and hits.
sub faults {
    my ($self) = @_;
    return @{ $self->_control(GET => '/__peer/faults')->{faults} };
}

# The latency every routed request waits before it is answered, on top of
# any latency fault (a fault's latency adds to it, so the two compose): a
# remote service's own response time, for benchmarks. It runs from the
# moment the request's first bytes are read to the moment its answer is
# sent, never less: the peer's own work is inside it. Set with
# Ferry::Peer->new(latency => s) or here while the peer runs; returns it.
sub latency {
    my ($self, $seconds) = @_;
    return $self->{latency} unless defined $seconds;
    _check_latency($seconds);
    return $self->{latency} = $self->{port}
        ? $self->_control(PUT => '/__peer/latency', { latency => 0 + $seconds })->{latency}
        : 0 + $seconds;
}

sub _check_latency {
    my ($s) = @_;
    croak "latency must be seconds" unless defined $s && $s =~ /^\d+(\.\d+)?\z/;
    return 0 + $s;
}

sub clear_faults {
    my ($self) = @_;
    $self->_control(DELETE => '/__peer/faults');
    return $self;
}

sub _control {
    my ($self, $method, $path, $data) = @_;
    my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
    my $res = $ua->request($method, $self->url . $path, {
        headers => { 'Content-Type' => 'application/json' },
        (defined $data ? (content => $JSON->encode($data)) : ()),
    });
    croak "peer $self->{name}: $method $path: $res->{status} $res->{content}"
        unless $res->{success};
    return $JSON->decode($res->{content});
}

# ------------------------------------------------------------------ the peer process

sub _serve {
    my ($self, $listen) = @_;
    $SIG{TERM} = $SIG{INT} = 'DEFAULT';

    # Mojo keeps large request bodies in temp files: these go with the test dir.
    my $tmp = $self->{t}->dir . "/peer-$self->{name}.tmp";
    mkdir $tmp;
    $ENV{MOJO_TMPDIR} = $tmp;

    open my $journal, '>>', $self->{journal_file} or die "$self->{journal_file}: $!";
    $self->{journal_fh} = $journal;
    $self->{faults} = [];
    $self->{seq} = 0;

    $self->{log} = Mojo::Log->new(level => 'error');
    for my $route (@{ $self->{routes} }) {
        $route->{match} = Mojolicious::Routes::Pattern->new($route->{pattern});
    }

    Mojo::IOLoop->server({ fd => fileno($listen) } => sub { $self->_connection($_[1]) });
    Mojo::IOLoop->start;
}

# The peer's own requests, answered at once and kept out of the journal.
my %CONTROL = (
    'GET /__peer/ping' => sub { (200, { name => $_[0]{name}, pid => $$ }) },
    'GET /__peer/faults' => sub { (200, { faults => $_[0]->_fault_list }) },
    'POST /__peer/faults' => sub { $_[0]->_add_fault($_[1]) },
    'DELETE /__peer/faults' => sub {
        @{ $_[0]{faults} } = ();
        return (200, { faults => [] });
    },
    'PUT /__peer/latency' => sub {
        my ($self, $req) = @_;
        my $s = ($req->json // {})->{latency};
        return (400, { error => 'latency must be seconds' })
            unless defined $s && $s =~ /^\d+(\.\d+)?\z/;
        $self->{latency} = 0 + $s;
        return (200, { latency => $self->{latency} });
    },
);

# ------------------------------------------------------------------ HTTP/1.1

# Mojo's event loop and streams carry the bytes; the peer reads and writes
# HTTP/1.1 itself. Mojo::Server::Daemon and its transactions cost ten times
# what the peer's own parsing does (3,300 requests a second against 15,000
# and more): an emulator's own cost is part of what a benchmark measures.

# The longest head (request line and headers) a request may have.
my $MAX_HEAD = 64 * 1024;

# A client's connection: its requests are read and answered one at a time
# (a request sent before the last one's answer waits in the buffer), and
# it is kept open until the client closes it or asks for that.
sub _connection {
    my ($self, $stream) = @_;
    my $c = { stream => $stream, buf => '', port => $stream->handle->peerport,
              address => $stream->handle->peerhost };
    $stream->timeout(300);
    $stream->on(read => sub {
        $c->{buf} .= $_[1];
        $self->_read($c);
    });
    # an error on the connection: its close follows
    $stream->on(error => sub { });
    $stream->on(close => sub {
        $c->{closed} = 1;
        delete $c->{stream};
        my $r = $c->{req};
        $r->{on_close}->() if $r && $r->{on_close};
    });
}

# What the client sent so far: a request's head, then its body (by
# Content-Length, or chunked), then the request is answered; the next one
# is read once that answer is written.
sub _read {
    my ($self, $c) = @_;
    return unless length $c->{buf} || $c->{req};
    # the moment the request's first bytes were read: its latency counts
    # from there, so that the peer's own work is inside it
    my $r = $c->{req} //= { arrival => _now() };
    return if $r->{read};
    unless ($r->{method}) {
        my $end = index $c->{buf}, "\r\n\r\n";
        if ($end < 0) {
            return length $c->{buf} > $MAX_HEAD ? $self->_refuse($c, 431) : undef;
        }
        _head($r, substr($c->{buf}, 0, $end + 4, '')) or return $self->_refuse($c, 400);
        # Expect: 100-continue answered, so that curl and libcurl do not
        # wait a second before each large upload
        $c->{stream}->write("HTTP/1.1 100 Continue\r\n\r\n")
            if ($r->{headers}{expect} // '') =~ /100-continue/i
               && ($r->{chunked} || $r->{left} > length $c->{buf});
    }
    while (1) {
        if ($r->{left}) {
            my $n = length $c->{buf} < $r->{left} ? length $c->{buf} : $r->{left};
            $r->{asset} = $r->{asset}->add_chunk(substr($c->{buf}, 0, $n, ''));
            $r->{left} -= $n;
            return if $r->{left};
        }
        last unless $r->{chunked};
        # a chunked body: a chunk's size line, its data and a CRLF; a size
        # of 0 ends it, after the trailer's lines and an empty line
        my $eol = index $c->{buf}, "\r\n";
        return if $eol < 0;
        my $line = substr($c->{buf}, 0, $eol + 2, '');
        if ($r->{trailer}) {
            delete $r->{chunked} if $line eq "\r\n";
        } elsif (delete $r->{crlf}) {
            return $self->_refuse($c, 400) unless $line eq "\r\n";
        } else {
            my ($size) = $line =~ /\A([0-9a-fA-F]{1,15})[ \t;\r]/ or return $self->_refuse($c, 400);
            ($r->{left}, $r->{crlf}, $r->{trailer}) = (hex $size, hex $size > 0, hex $size == 0);
        }
    }
    $r->{read} = 1;
    return if eval { $self->_request($c, $r); 1 };
    my $e = "$@" =~ s/\s+\z//r;
    $self->{log}->error("peer $self->{name}: $r->{method} $r->{path} failed: $e");
    $self->_respond($c, $r, 500, { error => "peer failed: $e" })->() unless $r->{answering};
}

# A request's line and headers into $r: method, target, path, query,
# headers (lower-case names, a repeated one's values joined by ", "), how
# its body comes (left: bytes by Content-Length; chunked), whether the
# connection closes after it. Undef when it is no HTTP/1.x request.
sub _head {
    my ($r, $head) = @_;
    my ($method, $target, $version, $rest) = $head =~ m{\A([A-Z]+) (/\S*) HTTP/1\.([01])\r\n(.*)\z}s
        or return;
    my %h;
    for my $line (split /\r\n/, $rest) {
        my ($name, $value) = $line =~ /\A([!#\$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*\z/
            or return;
        $name = lc $name;
        $h{$name} = exists $h{$name} ? "$h{$name}, $value" : $value;
    }
    my ($path, $query) = split /\?/, $target, 2;
    @$r{qw(method target path headers)} = ($method, $target, $path, \%h);
    $r->{query} = defined $query ? Mojo::Parameters->new($query)->to_hash : {};
    $r->{asset} = Mojo::Asset::Memory->new(auto_upgrade => 1);
    if (($h{'transfer-encoding'} // '') =~ /\bchunked\b/i) {
        ($r->{chunked}, $r->{left}) = (1, 0);
    } else {
        my $length = $h{'content-length'} // 0;
        return unless $length =~ /\A\d{1,15}\z/;
        $r->{left} = 0 + $length;
    }
    my $connection = $h{connection} // '';
    $r->{close} = $connection =~ /\bclose\b/i || !$version && $connection !~ /\bkeep-alive\b/i;
    return 1;
}

# A request that cannot be read: answered, and the connection closed.
sub _refuse {
    my ($self, $c, $status) = @_;
    my $r = $c->{req} //= {};
    @$r{qw(method path close read)} = ('GET', '/', 1, 1) unless $r->{method};
    $r->{close} = 1;
    $self->_respond($c, $r, $status, { error => 'bad request' })->();
}

# Bytes for the client, handed to the socket at once when nothing waits to
# be written before them (an answer leaves at its deadline, not when the
# event loop next turns); what the socket does not take goes through the
# stream. $cb once they are all written.
sub _write {
    my ($self, $c, $bytes, $cb) = @_;
    my $stream = $c->{stream};
    unless ($stream->is_writing) {
        my $n = $stream->handle->syswrite($bytes);
        substr($bytes, 0, $n, '') if $n;
    }
    return $stream->write($bytes => $cb) if length $bytes;
    $cb->();
}

# A request's answer was written: the next request is read, or the
# connection closed.
sub _written {
    my ($self, $c, $r) = @_;
    delete $c->{req};
    return if $c->{closed};
    return $c->{stream}->close_gracefully if $r->{close};
    $self->_read($c);
}

# A request read whole: the peer's control requests, then the routes in
# the order they were added (the first whose method and pattern match),
# else a 404.
sub _request {
    my ($self, $c, $r) = @_;
    my ($route, $params, $path) = $self->_match($r->{method}, $r->{path});
    if (my $control = $CONTROL{"$r->{method} $path"}) {
        my ($status, $body) = $control->($self, Ferry::Peer::Request->new($r));
        return $self->_respond($c, $r, $status, $body)->();
    }
    $self->_dispatch($c, $r, $route, $params, $path);
}

# The route for a method and a path as sent, its placeholders' values and
# the path decoded; the answers are remembered for the paths asked most
# (as Mojolicious' router does), as a peer's clients ask the same few again
# and again.
sub _match {
    my ($self, $method, $sent) = @_;
    my $cache = $self->{matched} //= {};
    my $hit = $cache->{"$method $sent"};
    return ($hit->[0], { %{ $hit->[1] } }, $hit->[2]) if $hit;
    my $path = Mojo::Path->new($sent)->to_route;
    # a HEAD is answered by a GET route
    my $as = $method eq 'HEAD' ? 'GET' : $method;
    my ($found, $params) = (undef, {});
    for my $route (@{ $self->{routes} }) {
        next if @{ $route->{methods} } && !grep { $_ eq $as } @{ $route->{methods} };
        my $captures = $route->{match}->match($path) or next;
        ($found, $params) = ($route, $captures);
        last;
    }
    %$cache = () if keys %$cache >= 1000;
    $cache->{"$method $sent"} = [$found, { %$params }, $path];
    return ($found, $params, $path);
}

sub _log_line {
    my ($self, $e) = @_;
    return unless $self->{journal};
    syswrite($self->{journal_fh}, $JSON->encode($e) . "\n");
}

sub _add_fault {
    my ($self, $req) = @_;
    my $f = eval { _check_fault($req->json) };
    return (400, { error => $@ =~ s/ at .* line \d+.*//sr }) unless $f;
    $f->{id} = ++$self->{fault_seq};
    $f->{hits} = 0;
    push @{ $self->{faults} }, $f;
    return (200, { id => $f->{id} });
}

sub _check_fault {
    my ($f) = @_;
    die "a fault is a JSON object\n" unless ref $f eq 'HASH';
    my %known = map { $_ => 1 } qw(method path times latency status retry_after
                                   rate_limit_reset headers body drop slow_body);
    my @unknown = grep { !$known{$_} } sort keys %$f;
    die "unknown fault keys: @unknown\n" if @unknown;
    die "a fault needs latency, status, drop or slow_body\n"
        unless grep { defined $f->{$_} } qw(latency status drop slow_body);
    die "status and drop exclude each other\n" if $f->{status} && $f->{drop};
    die "status must be 200..599\n"
        if defined $f->{status} && $f->{status} !~ /^[2-5]\d\d\z/;
    die "times must be a positive integer\n"
        if defined $f->{times} && $f->{times} !~ /^[1-9]\d*\z/;
    die "latency must be seconds\n"
        if defined $f->{latency} && $f->{latency} !~ /^\d+(\.\d+)?\z/;
    if (defined(my $s = $f->{slow_body})) {
        $s = $f->{slow_body} = { delay => $s } unless ref $s;
        die "slow_body is { chunk => bytes, delay => seconds }\n"
            unless ref $s eq 'HASH' && ($s->{chunk} // 16) =~ /^[1-9]\d*\z/
                   && ($s->{delay} // 0.05) =~ /^\d+(\.\d+)?\z/;
        $s->{chunk} //= 16;
        $s->{delay} //= 0.05;
    }
    # numbers again after the checks above made strings of them, for the journal
    for my $h ($f, $f->{slow_body} || {}) {
        $h->{$_} += 0 for grep { defined $h->{$_} } qw(times latency status chunk delay);
    }
    $f->{method} = uc $f->{method} if defined $f->{method};
    $f->{left} = $f->{times};
    return $f;
}

sub _fault_list {
    my ($self) = @_;
    return [ map { my %f = %$_; delete $f{_pattern}; \%f } @{ $self->{faults} } ];
}

sub _take_fault {
    my ($self, $method, $path) = @_;
    my $faults = $self->{faults};
    for my $i (0 .. $#$faults) {
        my $f = $faults->[$i];
        next if defined $f->{method} && $f->{method} ne $method;
        if (defined $f->{path}) {
            $f->{_pattern} //= Mojolicious::Routes::Pattern->new($f->{path});
            next unless $f->{_pattern}->match($path);
        }
        $f->{hits}++;
        splice @$faults, $i, 1 if defined $f->{left} && --$f->{left} == 0;
        my %copy = %$f;
        delete @copy{qw(_pattern left hits)};
        return \%copy;
    }
    return;
}

sub _dispatch {
    my ($self, $c, $r, $route, $params, $path) = @_;
    my $req = Ferry::Peer::Request->new($r, $route, $params, ++$self->{seq});
    my $id = $req->{id};

    my %entry = $self->{journal} ? (
        id => $id,
        time => time,
        method => $req->{method},
        path => $req->{path},
        url => $req->{url},
        query => $req->{query},
        headers => $req->{headers},
        remote_port => $c->{port},
        route => $route ? $route->{pattern} : undef,
        body_length => $req->{body_length},
        body_sha256 => $req->body_sha256,
    ) : ();
    if ($self->{journal} && $req->{body_length} <= $SMALL_BODY) {
        $entry{body} = $req->body;
        my $json = $req->json;
        $entry{json} = $json if defined $json;
    }
    $self->_log_line(\%entry);

    my $limit = $route && $route->{limit};
    my $key = $limit && $limit->{key}->($req);
    my $in_flight = $self->{in_flight} //= {};
    my $over = defined $key && ($in_flight->{$key} // 0) >= $limit->{max};
    my $fault = $over ? undef : $self->_take_fault($req->{method}, $path);
    $in_flight->{$key}++ if defined $key;
    my $answered;
    my $deadline;
    my $answer = sub {
        my (%outcome) = @_;
        $answered = 1;
        delete $in_flight->{$key} if defined $key && --$in_flight->{$key} <= 0;
        $self->_log_line({ id => $id, answer_time => time, status => undef,
                           ($fault ? (fault => $fault) : ()), %outcome });
    };
    $r->{on_close} = sub { $answer->(client_closed => 1) unless $answered };

    # The answer, or the drop, at the deadline (if any), as the timer fires
    # (some tens of microseconds after it): the answer's bytes are made
    # before it (all that the peer does but writing them) and written then.
    # (Spinning through the last 0.1 ms made answers more punctual alone
    # and later under load: the spin held up the event loop and took a core
    # from the client.)
    my $send = sub {
        my ($out) = @_;
        return $out->() unless defined $deadline;
        $self->_at($deadline => sub { $out->() unless $c->{closed} });
    };
    my $go = sub {
        return if $c->{closed};
        if ($fault && $fault->{drop}) {
            return $send->(sub {
                $answer->(dropped => 1);
                $c->{stream}->close;
            });
        }
        my ($status, $body, $headers, $error);
        if ($over) {
            ($status, $body, $headers) = $limit->{answer}->($req);
        } elsif ($fault && $fault->{status}) {
            ($status, $body, $headers) = _fault_answer($fault);
        } elsif ($route) {
            ($status, $body, $headers) = eval { $route->{handler}->($req) };
            if (my $e = $@) {
                $error = "$e" =~ s/\s+\z//r;
                $self->{log}->error("peer $self->{name}: handler for $req->{method} "
                                    . "$route->{pattern} died: $error");
                ($status, $body, $headers) = (500, { error => "peer handler died: $error" });
            }
        } else {
            ($status, $body) = (404, { error => 'no route', method => $req->{method},
                                       path => $req->{path} });
        }
        $status //= 200;
        my $out = $self->_respond($c, $r, $status, $body, $headers, $fault && $fault->{slow_body});
        $send->(sub {
            $answer->(status => 0 + $status, (defined $error ? (error => $error) : ()));
            $out->();
        });
    };

    # the peer's own latency (routed requests only: a 404 is answered at once)
    # plus the fault's
    my $delay = ($route ? $self->{latency} : 0) + ($fault && $fault->{latency} || 0);
    if ($delay && !$over) {
        # A deadline counted from the request's arrival, the answer sent
        # neither before it nor (as far as the machine allows) after it: the
        # handler runs now, the answer waits for the rest (a client that
        # hangs up meanwhile has had its request carried out, as a server
        # would have). A timer, not sleep: the other connections are served
        # meanwhile. (A handler run just before the deadline instead, as a
        # server's work ends just before its answer, made the handlers of
        # calls due together run one after the other at their deadlines: at
        # 2,000 calls a second the answers left a millisecond late.)
        $deadline = $r->{arrival} + $delay;
        $c->{stream}->timeout($delay + 60);
    }
    $go->();
}

# ------------------------------------------------------------------ the clock

sub _now { clock_gettime(CLOCK_MONOTONIC) }

# Calls $cb once the monotonic clock has reached $at, never before: on
# Linux through one timerfd armed for the earliest deadline waiting
# (nanoseconds; the event loop's own timers wait in whole milliseconds on
# epoll, up to a millisecond late), elsewhere through the loop's timers.
sub _at {
    my ($self, $at, $cb) = @_;
    return $cb->() if $at <= _now();
    my $q = $self->{deadlines} //= [];
    my $i = @$q;
    $i-- while $i && $q->[$i - 1][0] > $at;
    splice @$q, $i, 0, [$at, $cb];
    $self->_arm if $i == 0;
}

sub _arm {
    my ($self) = @_;
    my $q = $self->{deadlines};
    return unless @$q;
    my $at = $q->[0][0];
    my $fd = $self->_timerfd;
    if (defined $fd) {
        my $s = int $at;
        my $ns = int(($at - $s) * 1e9) + 1;
        ($s, $ns) = ($s + 1, $ns - 1_000_000_000) if $ns >= 1_000_000_000;
        # TFD_TIMER_ABSTIME; an itimerspec: interval 0, then the value
        syscall(_sys('timerfd_settime'), $fd, 1, pack('l!4', 0, 0, $s, $ns), 0) == 0
            or die "timerfd_settime: $!";
        return;
    }
    Mojo::IOLoop->remove($self->{timer}) if $self->{timer};
    my $wait = $at - _now();
    $self->{timer} = Mojo::IOLoop->timer(($wait > 0 ? $wait : 0) => sub {
        delete $self->{timer};
        $self->_fire;
    });
}

sub _fire {
    my ($self) = @_;
    my $q = $self->{deadlines};
    my $now = _now();
    my @due;
    push @due, (shift @$q)->[1] while @$q && $q->[0][0] <= $now;
    # the next deadline is armed before the callbacks add theirs
    $self->_arm;
    $_->() for @due;
}

# A timerfd on CLOCK_MONOTONIC watched by the event loop; undef where the
# system has none.
sub _timerfd {
    my ($self) = @_;
    return $self->{timerfd} if exists $self->{timerfd};
    $self->{timerfd} = undef;
    my $create = _sys('timerfd_create') // return;
    # TFD_NONBLOCK | TFD_CLOEXEC
    my $fd = syscall($create, CLOCK_MONOTONIC, 0x800 | 0x80000);
    return if $fd < 0;
    open(my $fh, '<&=', $fd) or return;
    $self->{timerfd_fh} = $fh;
    Mojo::IOLoop->singleton->reactor->io($fh => sub {
        sysread $fh, my $expirations, 8;
        $self->_fire;
    })->watch($fh, 1, 0);
    return $self->{timerfd} = $fd;
}

# A system call's number from Perl's syscall.ph (h2ph); undef without it.
sub _sys {
    my ($name) = @_;
    state $loaded = eval { package main; require 'syscall.ph'; 1 };
    state %number;
    return unless $loaded;
    return $number{$name} //= do { my $sub = main->can("SYS_$name"); $sub && $sub->() };
}

sub _fault_answer {
    my ($f) = @_;
    my %h = %{ $f->{headers} || {} };
    $h{'Retry-After'} = $f->{retry_after} if defined $f->{retry_after};
    $h{'X-RateLimit-Reset'} = $f->{rate_limit_reset} if defined $f->{rate_limit_reset};
    my $body = exists $f->{body} ? $f->{body}
             : { error => $f->{status} == 429 ? 'rate limited' : 'peer fault',
                 status => 0 + $f->{status} };
    return ($f->{status}, $body, \%h);
}

# A handler's answer made ready; returns the sub that sends it (the answer
# is made before a deadline, sent at it). $body: data (sent as JSON), bytes,
# undef, a sub returning the next piece of bytes (undef or '' at the end),
# or a Ferry::Peer::file; a sub or a file is streamed, so it is never held
# whole (chunked when its length is not known: a sub's Content-Length
# header, if the handler gives one, says it).
sub _respond {
    my ($self, $c, $r, $status, $body, $headers, $slow) = @_;
    my (@lines, %have);
    for my $name (sort keys %{ $headers || {} }) {
        my $v = $headers->{$name};
        push @lines, map { "$name: $_" } ref $v eq 'ARRAY' ? @$v : ($v);
        $have{ lc $name } = $v;
    }
    $r->{answering} = 1;

    my ($pull, $length);
    if (ref $body eq 'HASH' || ref $body eq 'ARRAY') {
        $body = Mojo::JSON::encode_json($body);
        push @lines, 'Content-Type: application/json' unless $have{'content-type'};
        $have{'content-type'} //= 'application/json';
    }
    if (!ref $body) {
        $body //= '';
        $length = length $body;
        my $done;
        $pull = sub { $done++ ? undef : $body } if $slow;
    } elsif (blessed $body && $body->isa('Ferry::Peer::File')) {
        open my $fh, '<:raw', $body->{path} or die "$body->{path}: $!";
        $length = -s $fh;
        $pull = sub { my $n = read($fh, my $piece, $PIECE); $n ? $piece : undef };
    } elsif (ref $body eq 'CODE') {
        $pull = $body;
        $length = delete $have{'content-length'};
    } else {
        die "peer: cannot send a " . ref($body) . " as a body\n";
    }
    push @lines, 'Content-Type: application/octet-stream'
        unless $have{'content-type'} || !$pull && $body eq '';
    # no body at all: 1xx, 204 and 304; none sent for a HEAD
    my $none = $status < 200 || $status == 204 || $status == 304;
    my $chunked = !$none && !defined $length;
    push @lines, $chunked ? 'Transfer-Encoding: chunked' : "Content-Length: $length"
        unless $none || exists $have{'content-length'};
    push @lines, 'Connection: close' if $r->{close};
    my $head = "HTTP/1.1 $status " . Mojo::Message::Response->default_message($status) . "\r\n"
             . join('', map { "$_\r\n" } @lines) . "\r\n";

    my $written = sub { $self->_written($c, $r) };
    if (!$pull || $none || $r->{method} eq 'HEAD') {
        $head .= $body unless $none || $r->{method} eq 'HEAD' || $pull;
        return sub { $self->_write($c, $head, $written) unless $c->{closed} };
    }

    my $size = $slow ? $slow->{chunk} : $PIECE;
    my $delay = $slow ? $slow->{delay} : 0;
    my ($buf, $eof) = ('', 0);
    my $next = sub {
        while (!$eof && length $buf < $size) {
            my $p = $pull->();
            if (defined $p && length $p) { $buf .= $p } else { $eof = 1 }
        }
        return length $buf ? substr($buf, 0, $size, '') : undef;
    };
    return sub {
        return if $c->{closed};
        my $step = __SUB__;
        my $piece = $next->();
        my $bytes = !defined $piece ? ($chunked ? "0\r\n\r\n" : '')
                  : $chunked ? sprintf("%x\r\n", length $piece) . "$piece\r\n" : $piece;
        $bytes = $head . $bytes if defined $head;
        undef $head;
        # the delay comes between pieces: a slow body starts at once
        $c->{stream}->write($bytes => !defined $piece ? $written : sub {
            $delay ? Mojo::IOLoop->timer($delay => $step) : $step->();
        });
    };
}

# ------------------------------------------------------------------ requests

package Ferry::Peer::Request;

# What a handler gets: the request, with its body left in a Mojo::Asset (a
# temp file when large) until the handler asks for it.

use Digest::SHA;
use Mojo::JSON ();

# $r: the request as the peer read it (Ferry::Peer::_head)
sub new {
    my ($class, $r, $route, $params, $id) = @_;
    return bless {
        id => $id,
        method => $r->{method},
        path => $r->{path},
        url => $r->{target},
        query => $r->{query},
        headers => $r->{headers},
        params => $params // {},
        route => $route ? $route->{pattern} : undef,
        body_length => $r->{asset}->size,
        asset => $r->{asset},
        remote_address => $r->{address},
    }, $class;
}

for my $field (qw(id method path url query headers params route body_length asset
                  remote_address)) {
    no strict 'refs';
    *$field = sub { $_[0]{$field} };
}

sub param { $_[0]{params}{ $_[1] } }
sub header { $_[0]{headers}{ lc $_[1] } }

sub body { $_[0]{asset}->slurp }

sub body_sha256 {
    my ($self) = @_;
    return $self->{sha256} //= do {
        my ($asset, $sha, $off) = ($self->asset, Digest::SHA->new(256), 0);
        while ($off < $asset->size) {
            my $chunk = $asset->get_chunk($off, 1 << 20);
            last unless length $chunk;
            $sha->add($chunk);
            $off += length $chunk;
        }
        $sha->hexdigest;
    };
}

# The body in a file, for handlers that read a large one in pieces.
sub body_file {
    my ($self) = @_;
    $self->{asset} = $self->{asset}->to_file unless $self->{asset}->is_file;
    return $self->{asset}->path;
}

# The body parsed, when it is JSON; undef otherwise.
sub json {
    my ($self) = @_;
    return $self->{json} if exists $self->{json};
    my $json;
    $json = eval { Mojo::JSON::decode_json($self->body) }
        if ($self->header('content-type') // '') =~ m{\bjson\b}i && $self->{body_length};
    return $self->{json} = $json;
}

1;
