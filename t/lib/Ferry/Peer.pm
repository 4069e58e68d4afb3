package Ferry::Peer;

# A scripted HTTP server for the integration tests, the base of the
# Mattermost, Grist and Slack emulators: routes with placeholders answered by
# Perl closures, a journal of every request that the test process reads from
# a file, and faults (latency, 429, 5xx, dropped connections, slow bodies)
# that the test switches on and off while the peer runs. Mojolicious serves
# it in a forked process of its own, registered with a Ferry::Test instance
# so it is torn down with the rest.

use strict;
use warnings;
use feature 'current_sub';

use Carp qw(croak);
use Digest::SHA;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Mojo::IOLoop;
use Mojo::JSON ();
use Mojo::Log;
use Mojo::Server::Daemon;
use Mojolicious;
use Mojolicious::Routes::Pattern;
use POSIX ();
use Scalar::Util qw(blessed weaken);
use Time::HiRes qw(sleep time);

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
# remote service's own response time, for benchmarks. Set with
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

    my $app = Mojolicious->new(mode => 'production');
    $app->log(Mojo::Log->new(level => 'error'));
    $app->secrets(['ferry-peer']);
    $app->static->paths([]);
    $app->static->classes([]);
    $app->static->extra({});
    $app->renderer->paths([]);
    $app->renderer->classes([]);
    # no limit on uploads: the emulators take whole exports
    $app->max_request_size(0);
    $app->hook(after_build_tx => sub { _prepare_tx($_[0]) });

    my $r = $app->routes;
    $r->get('/__peer/ping' => sub { $_[0]->render(json => { name => $self->{name}, pid => $$ }) });
    $r->get('/__peer/faults' => sub { $_[0]->render(json => { faults => $self->_fault_list }) });
    $r->post('/__peer/faults' => sub { $self->_add_fault($_[0]) });
    $r->delete('/__peer/faults' => sub {
        @{ $self->{faults} } = ();
        $_[0]->render(json => { faults => [] });
    });
    $r->put('/__peer/latency' => sub {
        my $s = ($_[0]->req->json // {})->{latency};
        return $_[0]->render(status => 400, json => { error => 'latency must be seconds' })
            unless defined $s && $s =~ /^\d+(\.\d+)?\z/;
        $self->{latency} = 0 + $s;
        $_[0]->render(json => { latency => $self->{latency} });
    });
    for my $route (@{ $self->{routes} }) {
        my $cb = sub { $self->_dispatch($_[0], $route) };
        if (@{ $route->{methods} }) {
            $r->any($route->{methods} => $route->{pattern} => $cb);
        } else {
            $r->any($route->{pattern} => $cb);
        }
    }
    $r->any('/*peer_unrouted' => { peer_unrouted => '' } => sub { $self->_dispatch($_[0], undef) });

    my $daemon = Mojo::Server::Daemon->new(
        app => $app,
        listen => ['http://127.0.0.1?fd=' . fileno($listen)],
        silent => 1,
        # keep-alive connections from the client under test are not closed
        # by the peer after 100 requests, nor while a latency fault runs
        max_requests => 1_000_000,
        inactivity_timeout => 300,
    );
    $daemon->start;
    Mojo::IOLoop->start;
}

# Raw bodies are kept (multipart is not split into parts) so the journal's
# sha256 is that of the bytes sent; and Expect: 100-continue is answered,
# which Mojo does not do, so that curl and libcurl do not wait a second
# before each large upload.
sub _prepare_tx {
    my ($tx) = @_;
    my $req = $tx->req;
    $req->content->auto_upgrade(0);
    weaken(my $weak = $tx);
    my $seen;
    $req->on(progress => sub {
        my ($req) = @_;
        return if $seen || !$req->content->is_parsing_body;
        $seen = 1;
        return unless ($req->headers->expect // '') =~ /100-continue/i && $weak;
        my $stream = Mojo::IOLoop->stream($weak->connection) or return;
        $stream->write("HTTP/1.1 100 Continue\r\n\r\n");
    });
}

sub _log_line {
    my ($self, $e) = @_;
    return unless $self->{journal};
    syswrite($self->{journal_fh}, $JSON->encode($e) . "\n");
}

sub _add_fault {
    my ($self, $c) = @_;
    my $f = eval { _check_fault($c->req->json) };
    return $c->render(status => 400, json => { error => $@ =~ s/ at .* line \d+.*//sr })
        unless $f;
    $f->{id} = ++$self->{fault_seq};
    $f->{hits} = 0;
    push @{ $self->{faults} }, $f;
    $c->render(json => { id => $f->{id} });
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
    my ($self, $c, $route) = @_;
    # held by the closures below: the controller only keeps a weak reference
    my $tx = $c->render_later->tx;
    my $req = Ferry::Peer::Request->new($c, $route, ++$self->{seq});
    my $id = $req->{id};

    my %entry = $self->{journal} ? (
        id => $id,
        time => time,
        method => $req->{method},
        path => $req->{path},
        url => $req->{url},
        query => $req->{query},
        headers => $req->{headers},
        remote_port => $tx->remote_port,
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
    my $fault = $over ? undef : $self->_take_fault($req->{method}, $c->req->url->path->to_route);
    $in_flight->{$key}++ if defined $key;
    my $answered;
    my $answer = sub {
        my (%outcome) = @_;
        $answered = 1;
        delete $in_flight->{$key} if defined $key && --$in_flight->{$key} <= 0;
        $self->_log_line({ id => $id, answer_time => time, status => undef,
                           ($fault ? (fault => $fault) : ()), %outcome });
    };
    $tx->on(finish => sub { $answer->(client_closed => 1) unless $answered });

    my $go = sub {
        return if $tx->is_finished;
        if ($fault && $fault->{drop}) {
            $answer->(dropped => 1);
            Mojo::IOLoop->stream($tx->connection)->close;
            return;
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
                $c->app->log->error("peer $self->{name}: handler for $req->{method} "
                                    . "$route->{pattern} died: $error");
                ($status, $body, $headers) = (500, { error => "peer handler died: $error" });
            }
        } else {
            ($status, $body) = (404, { error => 'no route', method => $req->{method},
                                       path => $req->{path} });
        }
        $status //= 200;
        $answer->(status => 0 + $status, (defined $error ? (error => $error) : ()));
        _respond($c, $tx, $status, $body, $headers, $fault && $fault->{slow_body});
    };

    # the peer's own latency (routed requests only: a 404 is answered at once)
    # plus the fault's
    my $delay = ($route ? $self->{latency} : 0) + ($fault && $fault->{latency} || 0);
    if ($delay && !$over) {
        # a timer, not sleep: the other connections are served meanwhile
        $c->inactivity_timeout($delay + 60);
        Mojo::IOLoop->timer($delay => $go);
    } else {
        $go->();
    }
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

# Sends a handler's answer. $body: data (sent as JSON), bytes, undef,
# a sub returning the next piece of bytes (undef or '' at the end), or a
# Ferry::Peer::file; a sub or a file is streamed, so it is never held whole.
sub _respond {
    my ($c, $tx, $status, $body, $headers, $slow) = @_;
    my $res = $c->res;
    $res->code($status);
    my $h = $res->headers;
    for my $name (sort keys %{ $headers || {} }) {
        my $v = $headers->{$name};
        $h->header($name => ref $v eq 'ARRAY' ? @$v : $v);
    }

    my ($pull, $length);
    if (ref $body eq 'HASH' || ref $body eq 'ARRAY') {
        $body = Mojo::JSON::encode_json($body);
        $h->content_type('application/json') unless $h->content_type;
    }
    if (!ref $body) {
        $body //= '';
        $h->content_type('application/octet-stream') unless $h->content_type || $body eq '';
        unless ($slow) {
            $res->body($body);
            return $c->rendered;
        }
        my $done;
        $pull = sub { $done++ ? undef : $body };
        $length = length $body;
    } elsif (blessed $body && $body->isa('Ferry::Peer::File')) {
        open my $fh, '<:raw', $body->{path} or die "$body->{path}: $!";
        $length = -s $fh;
        $pull = sub { my $n = read($fh, my $piece, $PIECE); $n ? $piece : undef };
    } elsif (ref $body eq 'CODE') {
        $pull = $body;
        $length = $h->content_length;
    } else {
        die "peer: cannot send a " . ref($body) . " as a body\n";
    }
    $h->content_type('application/octet-stream') unless $h->content_type;
    $h->content_length($length) if defined $length;

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
    my $write = defined $length ? 'write' : 'write_chunk';
    # weak: a client that leaves mid-body must not keep the transaction alive
    weaken($tx);
    (sub {
        return if !$tx || $tx->is_finished;
        my $step = __SUB__;
        my $piece = $next->();
        return $c->$write('') unless defined $piece;
        # the delay comes between pieces: a slow body starts at once
        $c->$write($piece => sub {
            $delay ? Mojo::IOLoop->timer($delay => $step) : $step->();
        });
    })->();
}

# ------------------------------------------------------------------ requests

package Ferry::Peer::Request;

# What a handler gets: the request, with its body left in Mojo's asset (a
# temp file when large) until the handler asks for it.

use Digest::SHA;
use Mojo::JSON ();

sub new {
    my ($class, $c, $route, $id) = @_;
    my $r = $c->req;
    my $h = $r->headers;
    my %params;
    if ($route) {
        %params = map { $_ => $c->stash($_) } @{ $c->match->endpoint->pattern->placeholders };
    }
    return bless {
        id => $id,
        c => $c,
        method => $r->method,
        path => $r->url->path->to_string,
        url => $r->url->path_query,
        query => $r->url->query->to_hash,
        headers => { map { lc($_) => scalar $h->header($_) } @{ $h->names } },
        params => \%params,
        route => $route ? $route->{pattern} : undef,
        body_length => $r->content->asset->size,
    }, $class;
}

for my $field (qw(id method path url query headers params route body_length)) {
    no strict 'refs';
    *$field = sub { $_[0]{$field} };
}

sub param { $_[0]{params}{ $_[1] } }
sub header { $_[0]{headers}{ lc $_[1] } }
# The Mojolicious::Controller, for what this class does not offer.
sub controller { $_[0]{c} }
sub asset { $_[0]{c}->req->content->asset }

sub body { $_[0]->asset->slurp }

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
    my $content = $self->{c}->req->content;
    $content->asset($content->asset->to_file) unless $content->asset->is_file;
    return $content->asset->path;
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
