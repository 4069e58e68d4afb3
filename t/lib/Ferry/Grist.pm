package Ferry::Grist;

# A Grist document server for the integration tests, as routes on a
# Ferry::Peer: the REST API subset Ferry's Grist sync uses, with Grist's
# paths, status codes and error JSON ({"error": ...}), so that a client
# tested against it is refused what the real server refuses.
#
#   my $g = Ferry::Grist->new($t, tables => { Teams => [ { team_name => 'Кухня' } ] })->start;
#   HTTP::Tiny->new->get($g->url . '/api/docs/' . $g->doc . '/tables/Teams/records',
#                        { headers => { Authorization => 'Bearer ' . $g->api_key } });
#   my $rows = $g->rows('Teams');          # the state, read from the peer process
#
# The rules were read from the REST API reference (support.getgrist.com/api,
# the grist-help repository's api/grist.yml) and grist-core's source
# (github.com/gristlabs/grist-core at f98cda9):
#   app/server/lib/DocApi.ts          the routes: records GET (filter values
#                                     must be arrays, sort, limit), POST,
#                                     PATCH, PUT (require; onmany, noadd,
#                                     noupdate), records/delete, GET and
#                                     POST /sql, {"statement","records"}
#   app/server/lib/runSQLQuery.ts     "only select statements are
#                                     supported", the statement wrapped in
#                                     select * from (...), args bound
#   app/server/lib/DocApiUsageTracker.ts   10 requests at once per
#                                     document (GRIST_MAX_PARALLEL_REQUESTS_
#                                     PER_DOC), then 429 "Too many backlogged
#                                     requests for document X - try again
#                                     later?"
#   app/plugin/TableOperationsImpl.ts "PATCH requires all records to have
#                                     same fields", "Invalid row id N",
#                                     'Invalid column "c"', 'Table not found'
#   app/server/lib/Authorizer.ts      401 "Bad request: invalid API key",
#                                     403 "No view access" / "No write access"
#   app/server/lib/expressWrap.ts     the error JSON
# and help/en/docs/timestamps.md for the update-time column: a trigger
# formula NOW() applied on new records and on changes to any field, which
# the emulator keeps in every synced table's updated_at.
#
# Cells are kept as Grist stores them: Ref a row id (0 empty), RefList a
# list of ids, Bool 0/1, Date and DateTime epoch seconds, and a value a
# column cannot hold (a name no Ref row has, "abc" in an Int column) as
# that text, Grist's "alt text". /records answers Bool as true/false and
# RefList as ["L", ids...]; /sql answers the stored values (Bool 0/1,
# RefList as the text "[1,2]"), as SQLite holds them. Writes parse strings
# by column type (a Ref takes its target's display value) unless
# noparse=true. The /sql endpoint understands the SELECT forms Ferry sends
# (columns, T.*, AS, LEFT JOIN ... ON a = b, WHERE with AND, comparisons,
# IN, IS [NOT] NULL, ORDER BY, LIMIT, OFFSET, ? and literal values) and
# refuses anything else with a 400 that says so, rather than guess.
# A PATCH that changes no value leaves updated_at alone, as Grist drops
# no-op changes before trigger formulas see them.

use strict;
use warnings;
use utf8;

use Carp qw(croak);
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use Time::HiRes ();
use Time::Local qw(timegm);

use Ferry::Peer;

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

# The request body limit of Grist's JSON parser.
my $MAX_BODY = 1024 * 1024;

# The document Ferry syncs (reference agreemod-grist.md §1): table =>
# [ [column, type], ... ]. Types: Text, Int, Numeric, Bool, Date, DateTime,
# Choice, Ref:T, RefList:T. Every table has id; the synced ones updated_at.
sub schema {
    my ($year) = @_;
    my $yy = sprintf '%02d', $year % 100;
    my @sync = ([updated_at => 'DateTime'], [to_delete => 'DateTime']);
    my @reason = ([delete_reason => 'Text']);
    return {
        Participation_statuses => [ [code => 'Text'], [A => 'Text'], [to_list => 'Bool'],
                                    [B => 'Text'] ],
        Roles => [ [Code => 'Text'], [Name => 'Text'] ],
        Arrival_type => [ [code => 'Text'], [title => 'Text'] ],
        Teams => [ [UUID => 'Text'], [team_name => 'Text'], [type_of_team => 'Choice'],
                   [year_of_establishment_ => 'Int'], [last_year => 'Int'], @sync ],
        People => [ [ntn_id => 'Text'], [name => 'Text'], [last_name => 'Text'],
                    [first_name => 'Text'], [nickname => 'Text'], [other_names => 'Text'],
                    [telegram => 'Text'], [phone => 'Text'], [email => 'Text'],
                    [city => 'Text'], [comment => 'Text'], [gender => 'Choice'],
                    [birth_date => 'Date'], [isInBL => 'Choice'], @sync, @reason ],
        Participations => [ [UUID => 'Text'], [year => 'Int'],
                            [status => 'Ref:Participation_statuses'], [role => 'Ref:Roles'],
                            [person => 'Ref:People'], [team => 'Ref:Teams'], @sync, @reason ],
        "Badges_$year" => [ [UUID => 'Text'], [name => 'Text'], [first_name => 'Text'],
                            [last_name => 'Text'], [phone => 'Text'], [diet => 'Choice'],
                            [feed_type => 'Choice'], [role => 'Ref:Roles'], [batch => 'Int'],
                            [person => 'Ref:People'], [photo_attach_id => 'Int'],
                            [infant => 'Bool'], [ticket => 'Bool'], [gender => 'Choice'],
                            [position => 'Text'], [number => 'Text'], [comment => 'Text'],
                            [directions_ref => 'RefList:Teams'],
                            [parent => "Ref:Badges_$year"], [feeder_update => 'Int'],
                            @sync, @reason ],
        "Arrivals_$year" => [ [UUID => 'Text'], [badge => "Ref:Badges_$year"],
                              [arrival_date => 'Date'], [departure_date => 'Date'],
                              [status => 'Ref:Participation_statuses'],
                              [arrival_transport => 'Ref:Arrival_type'],
                              [departure_transport => 'Ref:Arrival_type'],
                              [comment => 'Text'], @sync, @reason ],
        "Directions$year" => [ [name => 'Text'], ["last_updated_at$yy" => 'DateTime'],
                               ["direction_location$yy" => 'Ref:Teams'],
                               ["head$yy" => 'RefList:People'] ],
    };
}

# A document of n people, each with a participation, a badge and an
# arrival, in teams of n/50 (at least 2), with the lookup tables, every row
# valid: { table => [ {fields} ] } for new(tables => ...).
sub sample_tables {
    my ($n, %opt) = @_;
    my $year = $opt{year} // 2026;
    my $nteams = $opt{teams} // ($n / 50 > 2 ? int($n / 50) : 2);
    my $hex = sub { sprintf '%08x%024x', $_[0], $_[1] };
    my $day = timegm(0, 0, 0, 1, 6, $year);
    return {
        Participation_statuses => [ { code => 'PLANNED', A => 'планируется', to_list => JSON::PP::true },
                                    { code => 'CONFIRMED', A => 'подтверждено накануне' } ],
        Roles => [ { Code => 'ORGANIZER', Name => 'Организатор' },
                   { Code => 'VOLUNTEER', Name => 'Волонтёр' } ],
        Arrival_type => [ { code => 'UNDEFINED', title => 'Не определен' },
                          { code => 'BUS', title => 'На автобусе' },
                          { code => 'CAR', title => 'На машине' } ],
        Teams => [ map { { UUID => $hex->(1, $_), team_name => "Служба $_",
                           type_of_team => 'Городская служба', year_of_establishment_ => 2010 } }
                   1 .. $nteams ],
        People => [ map { { ntn_id => $hex->(2, $_), name => "Человек $_", first_name => "Имя$_",
                            gender => $_ % 2 ? 'М' : 'Ж', phone => "+7900$_", isInBL => 'Нет' } }
                    1 .. $n ],
        Participations => [ map { { UUID => $hex->(3, $_), year => $year, status => 1, role => 2,
                                    person => $_, team => 1 + $_ % $nteams } } 1 .. $n ],
        "Badges_$year" => [ map { { UUID => $hex->(4, $_), name => "Бейдж $_", diet => 'Без особенностей',
                                    feed_type => 'Бесплатно', role => 2, person => $_,
                                    directions_ref => [ 'L', 1 + $_ % $nteams ] } } 1 .. $n ],
        "Arrivals_$year" => [ map { { UUID => $hex->(5, $_), badge => $_, arrival_date => $day,
                                      departure_date => $day + 7 * 86400, status => 1,
                                      arrival_transport => 2, departure_transport => 3 } } 1 .. $n ],
    };
}

# The column a Ref to a table shows, which a written string is looked up in.
my %DISPLAY = (Participation_statuses => 'A', Roles => 'Name', Arrival_type => 'title',
               Teams => 'team_name', People => 'name');

# Options: name (the peer's, "grist"), doc (the document id), api_key (an
# editor's key), viewer_key (a key that may read only), year (2026: the
# tables Badges_<year>...), latency, max_parallel (10), max_body (1 MB),
# tables ({ table => [ {fields}... ] } made before start), seed_at (the
# update time of those rows; now by default), schema (to replace the
# default one).
sub new {
    my ($class, $t, %opt) = @_;
    my $name = $opt{name} // 'grist';
    my $year = $opt{year} // 2026;
    my $self = bless {
        t => $t,
        doc => $opt{doc} // 'ferrydoc0000000000000',
        api_key => $opt{api_key} // 'grist-key-0123456789abcdef',
        viewer_key => $opt{viewer_key} // 'grist-viewer-0123456789',
        year => $year,
        max_parallel => $opt{max_parallel} // 10,
        max_body => $opt{max_body} // $MAX_BODY,
        sql_log => [],
    }, $class;
    my $schema = $opt{schema} // schema($year);
    for my $table (sort keys %$schema) {
        my $cols = $schema->{$table};
        $self->{tables}{$table} = {
            cols => [ map { $_->[0] } @$cols ],
            type => { id => 'Int', manualSort => 'Numeric', map { @$_ } @$cols },
            rows => {},
            ids => [],
            next_id => 1,
        };
    }
    my $at = $opt{seed_at} // Time::HiRes::time();
    for my $table (sort keys %{ $opt{tables} || {} }) {
        my ($err, $status) = $self->_add($table, [ map { { fields => $_ } } @{ $opt{tables}{$table} } ],
                                         { at => $at });
        croak "seed $table: $status" if $err;
    }
    $self->{peer} = Ferry::Peer->new($t, name => $name, latency => $opt{latency} // 0);
    $self->_install($self->{peer});
    return $self;
}

sub start { $_[0]{peer}->start; $_[0] }
sub stop { $_[0]{peer}->stop }
sub peer { $_[0]{peer} }
sub url { $_[0]{peer}->url }
sub doc { $_[0]{doc} }
sub api_key { $_[0]{api_key} }
# ferryd's settings that point it at this document
sub settings { (GRIST__SERVER => $_[0]->url, GRIST__DOC_ID => $_[0]->doc, GRIST__API_KEY => $_[0]->api_key) }
sub viewer_key { $_[0]{viewer_key} }
sub year { $_[0]{year} }

sub fault { my $self = shift; $self->{peer}->fault(@_) }
sub clear_faults { my $self = shift; $self->{peer}->clear_faults(@_) }
sub journal { my $self = shift; $self->{peer}->journal(@_) }
sub latency { my $self = shift; $self->{peer}->latency(@_) }

# ------------------------------------------------------------------ test side

sub _control {
    my ($self, $method, $path, $data) = @_;
    my $res = HTTP::Tiny->new(timeout => 120, keep_alive => 0)->request($method, $self->url . $path, {
        headers => { 'Content-Type' => 'application/json' },
        (defined $data ? (content => $JSON->encode($data)) : ()),
    });
    croak "grist $method $path: $res->{status} $res->{content}" unless $res->{success};
    return $JSON->decode($res->{content});
}

# A table's rows as the records API gives them, in id order: [ { id,
# fields } ], fields with stored values (Bool 0/1, RefList a list).
sub rows {
    my ($self, $table) = @_;
    return $self->_control(GET => "/__grist/rows/$table")->{records};
}

# One row's fields, or undef.
sub row {
    my ($self, $table, $id) = @_;
    my ($r) = grep { $_->{id} == $id } @{ $self->rows($table) };
    return $r && $r->{fields};
}

# Rows added as a user would in Grist's UI (not journalled as API calls are
# by the emulator's SQL log); at: their update time. Returns their ids.
sub seed {
    my ($self, $table, $records, %opt) = @_;
    return $self->_control(POST => "/__grist/seed/$table",
                           { records => $records, at => $opt{at} })->{ids};
}

# Cells changed as a user would: { id => { col => value } }.
sub edit {
    my ($self, $table, $changes, %opt) = @_;
    $self->_control(POST => "/__grist/edit/$table",
                    { records => [ map { { id => 0 + $_, fields => $changes->{$_} } }
                                   sort { $a <=> $b } keys %$changes ], at => $opt{at} });
    return $self;
}

# Rows removed outright, as a user deleting them in the UI.
sub remove {
    my ($self, $table, @ids) = @_;
    $self->_control(POST => "/__grist/remove/$table", { ids => [ map { 0 + $_ } @ids ] });
    return $self;
}

# Every /sql statement answered: [ { sql, args, rows, tables } ], oldest
# first; rows is how many records the answer held.
sub sql_log {
    my ($self) = @_;
    return @{ $self->_control(GET => '/__grist/sql_log')->{log} };
}

# A call to the API with the editor's key (key => another, or undef for
# none): { status, json, content }.
sub api {
    my ($self, $method, $path, $data, %opt) = @_;
    my $key = exists $opt{key} ? $opt{key} : $self->{api_key};
    my %h;
    $h{Authorization} = "Bearer $key" if defined $key;
    my %req = (headers => \%h);
    if (defined $data) {
        $h{'Content-Type'} = 'application/json';
        $req{content} = ref $data ? $JSON->encode($data) : $data;
    }
    my $url = $self->url . "/api/docs/$self->{doc}$path";
    my $res = HTTP::Tiny->new(timeout => 60, keep_alive => 0)->request($method, $url, \%req);
    $res->{json} = eval { $JSON->decode($res->{content}) };
    return $res;
}

# ------------------------------------------------------------------ routes

sub _install {
    my ($self, $peer) = @_;
    my $limit = {
        max => $self->{max_parallel},
        # requests refused before the document is open do not count
        key => sub { my ($req) = @_; $self->_access($req) ? undef : $req->param('doc') },
        answer => sub {
            my ($req) = @_;
            return (429, { error => "Too many backlogged requests for document "
                                    . $req->param('doc') . " - try again later?" });
        },
    };
    my %lim = $self->{max_parallel} ? (limit => $limit) : ();
    my $base = '/api/docs/:doc';
    $peer->route(GET => "$base/tables/:table/records",
                 sub { $self->_call($_[0], 'view', \&_get_records) }, %lim);
    $peer->route(POST => "$base/tables/:table/records",
                 sub { $self->_call($_[0], 'edit', \&_post_records) }, %lim);
    $peer->route(PATCH => "$base/tables/:table/records",
                 sub { $self->_call($_[0], 'edit', \&_patch_records) }, %lim);
    $peer->route(PUT => "$base/tables/:table/records",
                 sub { $self->_call($_[0], 'edit', \&_put_records) }, %lim);
    $peer->route(POST => "$base/tables/:table/records/delete",
                 sub { $self->_call($_[0], 'edit', \&_delete_records) }, %lim);
    $peer->route([qw(GET POST)] => "$base/sql",
                 sub { $self->_call($_[0], 'view', \&_sql) }, %lim);

    $peer->route(GET => '/__grist/rows/:table', sub {
        my ($req) = @_;
        my $tb = $self->{tables}{ $req->param('table') } or return (404, { error => 'no table' });
        return (200, { records => [ map { { id => $_, fields => $tb->{rows}{$_} } }
                                    $self->_ids($tb) ] });
    });
    $peer->route(POST => '/__grist/seed/:table', sub {
        my ($req) = @_;
        my $in = $req->json;
        my ($err, $status, $ids) = $self->_add($req->param('table'),
            [ map { { fields => $_ } } @{ $in->{records} } ], { at => $in->{at} });
        return $err ? ($status, $err) : (200, { ids => $ids });
    });
    $peer->route(POST => '/__grist/edit/:table', sub {
        my ($req) = @_;
        my $in = $req->json;
        my ($err, $status) = $self->_update($req->param('table'), $in->{records},
                                            { at => $in->{at}, mixed => 1 });
        return $err ? ($status, $err) : (200, {});
    });
    $peer->route(POST => '/__grist/remove/:table', sub {
        my ($req) = @_;
        my ($err, $status) = $self->_remove($req->param('table'), $req->json->{ids});
        return $err ? ($status, $err) : (200, {});
    });
    $peer->route(GET => '/__grist/sql_log', sub { (200, { log => $self->{sql_log} }) });
}

sub _error { my ($status, $msg, %more) = @_; return ($status, { error => $msg, %more }) }

# undef when the request may go on, else its refusal (status, body).
sub _access {
    my ($self, $req, $need) = @_;
    my $auth = $req->header('Authorization');
    my $level;
    if (!defined $auth) {
        return _error(403, 'No view access');
    } elsif ($auth eq "Bearer $self->{api_key}") {
        $level = 'edit';
    } elsif ($auth eq "Bearer $self->{viewer_key}") {
        $level = 'view';
    } else {
        return _error(401, 'Bad request: invalid API key');
    }
    return _error(404, 'document not found') unless $req->param('doc') eq $self->{doc};
    return _error(403, 'No write access') if ($need // 'view') eq 'edit' && $level ne 'edit';
    return;
}

sub _call {
    my ($self, $req, $need, $handler) = @_;
    my @refused = $self->_access($req, $need);
    return @refused if @refused;
    return _error(413, 'request entity too large') if $req->body_length > $self->{max_body};
    my $table;
    if (defined(my $name = $req->param('table'))) {
        $table = $self->{tables}{$name} or return _error(404, qq{Table not found "$name"});
    }
    my $body;
    if ($req->body_length) {
        $body = $req->json;
        return _error(400, 'Invalid payload', details => { userError => 'not JSON' })
            unless defined $body;
    }
    return $handler->($self, $req, $table, $body);
}

# Grist answers a write that returns nothing with the JSON null.
sub _null { return (200, "null", { "Content-Type" => "application/json; charset=utf-8" }) }

sub _now { Time::HiRes::time() }

sub _ids {
    my ($self, $tb) = @_;
    $tb->{ids} = [ sort { $a <=> $b } keys %{ $tb->{rows} } ] if $tb->{dirty_ids};
    delete $tb->{dirty_ids};
    return @{ $tb->{ids} };
}

sub _default {
    my ($type) = @_;
    return '' if $type eq 'Text' || $type eq 'Choice';
    return 0 if $type =~ /^(Int|Numeric|Bool|Ref:)/;
    return undef;
}

# A value written through the API, as the column stores it.
sub _parse {
    my ($self, $type, $v, $noparse) = @_;
    return _default($type) if !defined $v && $type =~ /^(Ref:|Int|Numeric|Bool)/;
    return undef unless defined $v;
    if (JSON::PP::is_bool($v)) {
        return $v ? 1 : 0 if $type eq 'Bool';
        return $v ? 'true' : 'false';
    }
    if ($type =~ /^Ref:(\w+)$/) {
        return 0 + $v if _is_num($v);
        return $v if $noparse || ref $v;
        return $self->_lookup($1, $v) // $v;
    }
    if ($type =~ /^RefList:(\w+)$/) {
        my $target = $1;
        if (ref $v eq 'ARRAY') {
            my @l = @$v;
            shift @l if @l && defined $l[0] && $l[0] eq 'L';
            return undef unless @l;
            return [ map { _is_num($_) ? 0 + $_ : $noparse ? $_ : ($self->_lookup($target, $_) // $_) } @l ];
        }
        return $v;
    }
    if ($type eq 'Bool') {
        return $v ? 1 : 0 if _is_num($v);
        return 1 if !$noparse && lc $v eq 'true';
        return 0 if !$noparse && lc $v eq 'false';
        return $v;
    }
    if ($type eq 'Int' || $type eq 'Numeric' || $type eq 'Date' || $type eq 'DateTime') {
        return 0 + $v if _is_num($v);
        return $v if $noparse || ref $v;
        if ($type =~ /^Date/ && $v =~ /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d))?)?(?:Z)?\z/) {
            return timegm($6 // 0, $5 // 0, $4 // 0, $3, $2 - 1, $1);
        }
        return $v =~ /^-?\d+(\.\d+)?\z/ ? 0 + $v : $v;
    }
    return ref $v ? $JSON->encode($v) : "$v";
}

sub _is_num { my ($v) = @_; return defined $v && !ref $v && B_is_num($v) }

# true for a number as JSON gave it (not for the string "12")
sub B_is_num {
    my ($v) = @_;
    require B;
    my $flags = B::svref_2object(\$v)->FLAGS;
    return ($flags & (B::SVp_IOK() | B::SVp_NOK())) && !($flags & B::SVp_POK()) ? 1 : 0;
}

sub _lookup {
    my ($self, $table, $text) = @_;
    my $tb = $self->{tables}{$table} or return;
    my $col = $DISPLAY{$table} // ($table =~ /^Badges_/ ? 'name' : undef) or return;
    for my $id ($self->_ids($tb)) {
        my $v = $tb->{rows}{$id}{$col};
        return $id if defined $v && $v eq $text;
    }
    return;
}

sub _check_fields {
    my ($tb, $fields) = @_;
    return _error(400, 'Invalid payload', details => { userError => 'fields must be an object' })
        unless ref $fields eq 'HASH';
    for my $c (sort keys %$fields) {
        return _error(400, qq{Invalid column "$c"}) unless $tb->{type}{$c} && $c ne 'id';
    }
    return;
}

# Adds rows: [ { fields } ]. (error body, status) or (undef, undef, ids).
sub _add {
    my ($self, $name, $records, $opt) = @_;
    my $tb = $self->{tables}{$name} or return ({ error => qq{Table not found "$name"} }, 404);
    for my $r (@$records) {
        my ($s, $e) = _check_fields($tb, $r->{fields} // {});
        return ($e, $s) if $s;
    }
    my $at = $opt->{at} // _now();
    my @ids;
    for my $r (@$records) {
        my $f = $r->{fields} // {};
        my $id = $tb->{next_id}++;
        my %row = map { $_ => _default($tb->{type}{$_}) } @{ $tb->{cols} };
        $row{$_} = $self->_parse($tb->{type}{$_}, $f->{$_}, $opt->{noparse}) for keys %$f;
        $row{manualSort} = $id;
        $row{updated_at} = $at if exists $tb->{type}{updated_at} && !exists $f->{updated_at};
        $tb->{rows}{$id} = \%row;
        push @{ $tb->{ids} }, $id;
        _stamp($tb, $id);
        push @ids, $id;
    }
    return (undef, undef, \@ids);
}

sub _same {
    my ($a, $b) = @_;
    return 1 if !defined $a && !defined $b;
    return 0 if !defined $a || !defined $b;
    return $JSON->encode($a) eq $JSON->encode($b) if ref $a || ref $b;
    return "$a" eq "$b";
}

# Updates rows: [ { id, fields } ], all checked before any is changed.
sub _update {
    my ($self, $name, $records, $opt) = @_;
    my $tb = $self->{tables}{$name} or return ({ error => qq{Table not found "$name"} }, 404);
    my $keys;
    for my $r (@$records) {
        return ({ error => 'Invalid payload', details => { userError => 'records need an id' } }, 400)
            unless ref $r eq 'HASH' && defined $r->{id} && $r->{id} =~ /^\d+\z/;
        my ($s, $e) = _check_fields($tb, $r->{fields} // {});
        return ($e, $s) if $s;
        my $k = join ',', sort keys %{ $r->{fields} // {} };
        return ({ error => 'PATCH requires all records to have same fields' }, 400)
            if !$opt->{mixed} && defined $keys && $k ne $keys;
        $keys = $k;
    }
    for my $r (@$records) {
        return ({ error => "Invalid row id $r->{id}" }, 400) unless $tb->{rows}{ $r->{id} };
    }
    my $at = $opt->{at} // _now();
    for my $r (@$records) {
        my $row = $tb->{rows}{ $r->{id} };
        my $f = $r->{fields} // {};
        my $changed = 0;
        for my $c (keys %$f) {
            my $v = $self->_parse($tb->{type}{$c}, $f->{$c}, $opt->{noparse});
            next if _same($row->{$c}, $v);
            $row->{$c} = $v;
            $changed++ unless $c eq 'updated_at';
        }
        $row->{updated_at} = $at
            if $changed && exists $tb->{type}{updated_at} && !exists $f->{updated_at};
        _stamp($tb, $r->{id}) if $changed || exists $f->{updated_at};
    }
    return;
}

# An index of the rows by updated_at, as SQLite would use one: kept in
# order as rows are stamped with the time (which only grows), rebuilt when
# a row gets an older one; an entry whose row has since been stamped again
# or removed is skipped when read.
sub _stamp {
    my ($tb, $id) = @_;
    return unless exists $tb->{type}{updated_at};
    my $v = $tb->{rows}{$id}{updated_at};
    my $idx = $tb->{uidx} //= [];
    if (!Ferry::Grist::SQL::_is_number($v)) {
        $tb->{uidx_stale} = 1;
    } elsif (!@$idx || $v >= $idx->[-1][0]) {
        push @$idx, [ $v, $id ];
    } else {
        $tb->{uidx_stale} = 1;
    }
}

# The ids of rows whose updated_at is >= (or >) since, in id order.
sub _since {
    my ($self, $tb, $since, $strict) = @_;
    if ($tb->{uidx_stale} || !$tb->{uidx}) {
        $tb->{uidx} = [ sort { $a->[0] <=> $b->[0] }
                        map { [ $tb->{rows}{$_}{updated_at}, $_ ] }
                        grep { Ferry::Grist::SQL::_is_number($tb->{rows}{$_}{updated_at}) }
                        keys %{ $tb->{rows} } ];
        delete $tb->{uidx_stale};
    }
    my $idx = $tb->{uidx};
    my ($lo, $hi) = (0, scalar @$idx);
    while ($lo < $hi) {
        my $mid = int(($lo + $hi) / 2);
        if ($strict ? $idx->[$mid][0] <= $since : $idx->[$mid][0] < $since) { $lo = $mid + 1 }
        else { $hi = $mid }
    }
    my %ids;
    for my $i ($lo .. $#$idx) {
        my ($v, $id) = @{ $idx->[$i] };
        my $row = $tb->{rows}{$id} or next;
        $ids{$id} = 1 if defined $row->{updated_at} && $row->{updated_at} == $v;
    }
    return sort { $a <=> $b } keys %ids;
}

# The ids after (or from) a given one, in order.
sub _ids_from {
    my ($self, $tb, $from, $strict) = @_;
    my @ids = $self->_ids($tb);
    my ($lo, $hi) = (0, scalar @ids);
    while ($lo < $hi) {
        my $mid = int(($lo + $hi) / 2);
        if ($strict ? $ids[$mid] <= $from : $ids[$mid] < $from) { $lo = $mid + 1 } else { $hi = $mid }
    }
    return @ids[ $lo .. $#ids ];
}

sub _remove {
    my ($self, $name, $ids) = @_;
    my $tb = $self->{tables}{$name} or return ({ error => qq{Table not found "$name"} }, 404);
    return ({ error => 'Invalid payload', details => { userError => 'expected a list of row ids' } }, 400)
        unless ref $ids eq 'ARRAY' && !grep { !defined || !/^\d+\z/ } @$ids;
    for my $id (@$ids) {
        return ({ error => "Invalid row id $id" }, 400) unless $tb->{rows}{$id};
    }
    delete $tb->{rows}{$_} for @$ids;
    $tb->{dirty_ids} = 1;
    return;
}

# ------------------------------------------------------------------ records

sub _api_value {
    my ($type, $v) = @_;
    return undef unless defined $v;
    return $v ? JSON::PP::true : JSON::PP::false if $type eq 'Bool' && _num_str($v);
    return [ 'L', @$v ] if $type =~ /^RefList:/ && ref $v eq 'ARRAY';
    return $v;
}

sub _num_str { my ($v) = @_; return defined $v && !ref $v && $v =~ /^-?\d+(\.\d+)?\z/ }

sub _get_records {
    my ($self, $req, $tb) = @_;
    my $q = $req->query;
    my $filter = {};
    if (defined $q->{filter}) {
        $filter = eval { JSON::PP->new->decode($q->{filter}) };
        return _error(400, 'Invalid query: filter must be a JSON object') unless ref $filter eq 'HASH';
        return _error(400, 'Invalid query: filter values must be arrays')
            if grep { ref $filter->{$_} ne 'ARRAY' } keys %$filter;
        for my $c (keys %$filter) {
            return _error(400, qq{Invalid column "$c"}) unless $tb->{type}{$c};
        }
    }
    my @ids = $self->_ids($tb);
    for my $c (sort keys %$filter) {
        my @want = @{ $filter->{$c} };
        @ids = grep {
            my $have = _api_value($tb->{type}{$c}, $c eq 'id' ? $_ : $tb->{rows}{$_}{$c});
            grep { _same(_plain($have), _plain($_)) } @want;
        } @ids;
    }
    if (defined(my $sort = $req->header('X-Sort') // $q->{sort})) {
        my @keys;
        for my $s (split /,/, $sort) {
            my ($desc, $col) = $s =~ /^(-?)(\w+)/ or return _error(400, "Invalid sort \"$s\"");
            return _error(400, qq{Invalid column "$col"}) unless $tb->{type}{$col};
            push @keys, [ $col, $desc ? -1 : 1 ];
        }
        @ids = sort {
            my $r = 0;
            for my $k (@keys) {
                $r = $k->[1] * _cmp($k->[0] eq 'id' ? $a : $tb->{rows}{$a}{ $k->[0] },
                                    $k->[0] eq 'id' ? $b : $tb->{rows}{$b}{ $k->[0] });
                last if $r;
            }
            $r || $a <=> $b;
        } @ids;
    }
    my $limit = $req->header('X-Limit') // $q->{limit};
    if (defined $limit && $limit ne '') {
        return _error(400, 'Invalid limit') unless $limit =~ /^\d+\z/;
        splice @ids, $limit if $limit > 0 && @ids > $limit;
    }
    my @cols = @{ $tb->{cols} };
    return (200, { records => [ map {
        my $row = $tb->{rows}{$_};
        { id => 0 + $_, fields => { map { $_ => _api_value($tb->{type}{$_}, $row->{$_}) } @cols } };
    } @ids ] });
}

sub _plain {
    my ($v) = @_;
    return $v ? 1 : 0 if JSON::PP::is_bool($v);
    return $v;
}

sub _cmp {
    my ($x, $y) = @_;
    return 0 if !defined $x && !defined $y;
    return -1 unless defined $x;
    return 1 unless defined $y;
    return $x <=> $y if _num_str($x) && _num_str($y);
    return "$x" cmp "$y";
}

sub _records_of {
    my ($body) = @_;
    return unless ref $body eq 'HASH' && ref $body->{records} eq 'ARRAY';
    return if grep { ref $_ ne 'HASH' } @{ $body->{records} };
    return $body->{records};
}

sub _noparse { my ($req) = @_; return ($req->query->{noparse} // '') =~ /^(1|true|yes|on)\z/i }

sub _post_records {
    my ($self, $req, $tb, $body) = @_;
    my $records = _records_of($body)
        or return _error(400, 'Invalid payload', details => { userError => 'records required' });
    my ($err, $status, $ids) = $self->_add($req->param('table'), $records,
                                           { noparse => _noparse($req) });
    return ($status, $err) if $err;
    return (200, { records => [ map { { id => $_ } } @$ids ] });
}

sub _patch_records {
    my ($self, $req, $tb, $body) = @_;
    my $records = _records_of($body)
        or return _error(400, 'Invalid payload', details => { userError => 'records required' });
    return _error(400, 'PATCH requires a valid record object') unless @$records;
    my ($err, $status) = $self->_update($req->param('table'), $records,
                                        { noparse => _noparse($req) });
    return ($status, $err) if $err;
    return _null();
}

sub _put_records {
    my ($self, $req, $tb, $body) = @_;
    my $records = _records_of($body)
        or return _error(400, 'Invalid payload', details => { userError => 'records required' });
    my $q = $req->query;
    my $onmany = $q->{onmany} // 'first';
    return _error(400, "onmany must be one of first, none, all")
        unless $onmany =~ /^(first|none|all)\z/;
    my $yes = sub { ($q->{ $_[0] } // '') =~ /^(1|true|yes|on)\z/i };
    my $noparse = _noparse($req);
    my $name = $req->param('table');
    for my $r (@$records) {
        my $require = $r->{require} // {};
        my ($s, $e) = _check_fields($tb, $require);
        return ($s, $e) if $s;
        ($s, $e) = _check_fields($tb, $r->{fields} // {});
        return ($s, $e) if $s;
        return _error(400, 'require is empty') unless %$require || $yes->('allow_empty_require');
    }
    for my $r (@$records) {
        my $require = $r->{require} // {};
        my @match = grep {
            my $row = $tb->{rows}{$_};
            !grep { !_same(_plain($row->{$_}), $self->_parse($tb->{type}{$_}, $require->{$_}, $noparse)) }
                keys %$require;
        } $self->_ids($tb);
        if (@match) {
            next if $yes->('noupdate') || $onmany eq 'none' && @match > 1;
            @match = ($match[0]) if $onmany eq 'first';
            $self->_update($name, [ map { { id => $_, fields => $r->{fields} // {} } } @match ],
                           { noparse => $noparse });
        } elsif (!$yes->('noadd')) {
            $self->_add($name, [ { fields => { %$require, %{ $r->{fields} // {} } } } ],
                        { noparse => $noparse });
        }
    }
    return _null();
}

sub _delete_records {
    my ($self, $req, $tb, $body) = @_;
    my ($err, $status) = $self->_remove($req->param('table'), $body);
    return ($status, $err) if $err;
    return _null();
}

# ------------------------------------------------------------------ sql

sub _sql {
    my ($self, $req, $tb, $body) = @_;
    my ($sql, $args);
    if ($req->method eq 'GET') {
        $sql = $req->query->{q};
        return _error(400, 'q parameter required') unless defined $sql;
        $args = [];
    } else {
        return _error(400, 'Invalid payload', details => { userError => 'sql required' })
            unless ref $body eq 'HASH' && defined $body->{sql} && !ref $body->{sql};
        return _error(400, 'Invalid payload', details => { userError => 'args must be a list' })
            if defined $body->{args} && ref $body->{args} ne 'ARRAY';
        ($sql, $args) = ($body->{sql}, $body->{args} // []);
    }
    my $statement = $sql =~ s/;\s*\z//r;
    return _error(400, 'only select statements are supported') unless $statement =~ /select/i;
    my $res = eval { Ferry::Grist::SQL->new($self, $statement, $args)->run };
    if (!$res) {
        my $e = $@ =~ s/ at \S+ line \d+.*//sr;
        chomp $e;
        return _error(400, $e);
    }
    push @{ $self->{sql_log} }, { sql => $statement, args => $args, rows => scalar @{ $res->{records} },
                                  tables => $res->{tables} };
    return (200, { statement => $sql, records => [ map { { fields => $_ } } @{ $res->{records} } ] });
}

package Ferry::Grist::SQL;

# The subset of SQLite's SELECT that Ferry's sync sends, over the
# emulator's tables; anything else dies with "emulator: ..." (a 400), and a
# table or column that does not exist with SQLite's own message.

use strict;
use warnings;

sub new {
    my ($class, $grist, $sql, $args) = @_;
    return bless { g => $grist, sql => $sql, args => [ @$args ], argi => 0,
                   toks => _tokens($sql), pos => 0 }, $class;
}

sub _tokens {
    my ($sql) = @_;
    my @t;
    pos($sql) = 0;
    while (pos($sql) < length $sql) {
        if ($sql =~ /\G\s+/gc) { next }
        elsif ($sql =~ /\G([A-Za-z_]\w*)/gc) { push @t, [ id => $1 ] }
        elsif ($sql =~ /\G"((?:[^"]|"")*)"/gc) { push @t, [ qid => $1 =~ s/""/"/gr ] }
        elsif ($sql =~ /\G\[([^\]]*)\]/gc) { push @t, [ qid => $1 ] }
        elsif ($sql =~ /\G(-?\d+(?:\.\d+)?)/gc) { push @t, [ num => $1 ] }
        elsif ($sql =~ /\G'((?:[^']|'')*)'/gc) { push @t, [ str => $1 =~ s/''/'/gr ] }
        elsif ($sql =~ /\G(>=|<=|!=|<>|==|[=<>(),.*?])/gc) { push @t, [ op => $1 ] }
        else { die "emulator: cannot read the SQL at: " . substr($sql, pos($sql), 20) . "\n" }
    }
    return \@t;
}

sub _peek { my ($s) = @_; return $s->{toks}[ $s->{pos} ] }

sub _kw {
    my ($s, $word) = @_;
    my $t = $s->_peek;
    return 0 unless $t && $t->[0] eq 'id' && lc $t->[1] eq lc $word;
    $s->{pos}++;
    return 1;
}

sub _expect_kw { my ($s, $w) = @_; $s->_kw($w) or $s->_unsupported("expected \U$w\E") }

sub _op {
    my ($s, $op) = @_;
    my $t = $s->_peek;
    return 0 unless $t && $t->[0] eq 'op' && $t->[1] eq $op;
    $s->{pos}++;
    return 1;
}

my %RESERVED = map { $_ => 1 } qw(select from left join on where and or order by limit offset
                                  as in is not null asc desc inner group having union);

sub _name {
    my ($s) = @_;
    my $t = $s->_peek;
    $s->_unsupported('expected a name')
        unless $t && ($t->[0] eq 'qid' || $t->[0] eq 'id' && !$RESERVED{ lc $t->[1] });
    $s->{pos}++;
    return $t->[1];
}

sub _unsupported {
    my ($s, $what) = @_;
    my $t = $s->_peek;
    die "emulator: unsupported SQL ($what) at " . ($t ? "'$t->[1]'" : 'the end') . "\n";
}

# a column reference: [table or undef, column]
sub _colref {
    my ($s) = @_;
    my $a = $s->_name;
    return [ $a, $s->_name ] if $s->_op('.');
    return [ undef, $a ];
}

sub _value {
    my ($s) = @_;
    my $t = $s->_peek or $s->_unsupported('expected a value');
    if ($t->[0] eq 'op' && $t->[1] eq '?') {
        $s->{pos}++;
        die "emulator: fewer args than ? in the statement\n" if $s->{argi} >= @{ $s->{args} };
        my $v = $s->{args}[ $s->{argi}++ ];
        return JSON::PP::is_bool($v) ? ($v ? 1 : 0) : $v;
    }
    if ($t->[0] eq 'num' || $t->[0] eq 'str') { $s->{pos}++; return $t->[1] }
    if ($s->_kw('null')) { return undef }
    $s->_unsupported('expected ?, a number, a string or NULL');
}

sub run {
    my ($s) = @_;
    $s->_expect_kw('select');
    my @sel;
    do {
        if ($s->_op('*')) {
            push @sel, { star => undef };
        } else {
            my $a = $s->_name;
            my $ref = [ undef, $a ];
            if ($s->_op('.')) {
                $ref = [ $a, $s->_op('*') ? '*' : $s->_name ];
            }
            push @sel, { col => $ref,
                         as => $ref->[1] ne '*' && $s->_kw('as') ? $s->_name : $ref->[1] };
        }
    } while ($s->_op(','));
    $s->_expect_kw('from');
    my $main = $s->_name;
    my @tables = ($main);
    my @joins;
    while ($s->_kw('left')) {
        $s->_expect_kw('join');
        my $jt = $s->_name;
        $s->_expect_kw('on');
        my $l = $s->_colref;
        $s->_op('=') || $s->_op('==') or $s->_unsupported('a join is ON a = b');
        my $r = $s->_colref;
        push @joins, { table => $jt, left => $l, right => $r };
        push @tables, $jt;
    }
    $s->_unsupported('only LEFT JOIN') if $s->_peek && $s->_peek->[0] eq 'id'
                                          && lc $s->_peek->[1] =~ /^(join|inner|cross|natural)$/;
    my @where;
    if ($s->_kw('where')) {
        do {
            my $ref = $s->_colref;
            if ($s->_kw('is')) {
                my $not = $s->_kw('not');
                $s->_expect_kw('null');
                push @where, { col => $ref, op => $not ? 'notnull' : 'null' };
            } elsif ($s->_kw('in')) {
                $s->_op('(') or $s->_unsupported('IN (...)');
                my @v;
                do { push @v, $s->_value } while ($s->_op(','));
                $s->_op(')') or $s->_unsupported('IN (...)');
                push @where, { col => $ref, op => 'in', vals => \@v };
            } else {
                my $t = $s->_peek;
                $s->_unsupported('a comparison')
                    unless $t && $t->[0] eq 'op' && $t->[1] =~ /^(>=|<=|!=|<>|==|=|<|>)\z/;
                $s->{pos}++;
                push @where, { col => $ref, op => $t->[1], val => $s->_value };
            }
        } while ($s->_kw('and'));
    }
    my @order;
    if ($s->_kw('order')) {
        $s->_expect_kw('by');
        do {
            my $ref = $s->_colref;
            my $dir = $s->_kw('desc') ? -1 : ($s->_kw('asc'), 1)[1];
            push @order, [ $ref, $dir ];
        } while ($s->_op(','));
    }
    my ($limit, $offset);
    if ($s->_kw('limit')) {
        $limit = $s->_value;
        $offset = $s->_value if $s->_kw('offset');
    }
    $s->_unsupported('more than the emulator reads') if $s->_peek;
    die "emulator: more args than ? in the statement\n" if $s->{argi} < @{ $s->{args} };

    my $g = $s->{g};
    my %tb;
    for my $name (@tables) {
        $tb{$name} = $g->{tables}{$name} or die "no such table: $name\n";
    }
    my $resolve = sub {
        my ($ref) = @_;
        my ($t, $c) = @$ref;
        if (defined $t) {
            die "no such column: $t.$c\n" unless $tb{$t} && ($c eq 'id' || $tb{$t}{type}{$c});
            return [ $t, $c ];
        }
        my @in = grep { $c eq 'id' || $tb{$_}{type}{$c} } @tables;
        die "no such column: $c\n" unless @in;
        die "ambiguous column name: $c\n" if @in > 1;
        return [ $in[0], $c ];
    };
    for my $it (grep { $_->{col} } @sel) {
        if ($it->{col}[1] ne '*') {
            $it->{col} = $resolve->($it->{col});
        } elsif (!$tb{ $it->{col}[0] }) {
            die "no such table: $it->{col}[0]\n";
        }
    }
    $_->{left} = $resolve->($_->{left}), $_->{right} = $resolve->($_->{right}) for @joins;
    $_->{col} = $resolve->($_->{col}) for @where;
    $_->[0] = $resolve->($_->[0]) for @order;

    # the main table's rows first, through its indexes (id, updated_at)
    # when the WHERE allows, then its own conditions, then the joins
    my $mt = $tb{$main};
    my @mine = grep { $_->{col}[0] eq $main } @where;
    my @rest = grep { $_->{col}[0] ne $main } @where;
    my ($uw) = grep { $_->{col}[1] eq 'updated_at' && $_->{op} =~ /^>=?\z/ && _is_number($_->{val}) } @mine;
    my ($iw) = grep { $_->{col}[1] eq 'id' && $_->{op} =~ /^>=?\z/ && _is_number($_->{val}) } @mine;
    my @cand = $uw ? $g->_since($mt, $uw->{val}, $uw->{op} eq '>')
             : $iw ? $g->_ids_from($mt, $iw->{val}, $iw->{op} eq '>')
             : $g->_ids($mt);
    for my $w (@mine) {
        @cand = grep { _test(_sql_value($mt, $w->{col}[1], $_), $w) } @cand;
    }
    my $id_order = !@order || @order == 1 && $order[0][0][0] eq $main
                   && $order[0][0][1] eq 'id' && $order[0][1] == 1;
    if ($id_order && !@rest && !@joins || $id_order && !@rest) {
        if (defined $offset) {
            die "emulator: OFFSET must be a number\n" unless $offset =~ /^\d+\z/;
            splice @cand, 0, $offset;
            undef $offset;
        }
        if (defined $limit) {
            die "emulator: LIMIT must be a number\n" unless $limit =~ /^-?\d+\z/;
            splice @cand, $limit if $limit >= 0 && @cand > $limit;
            undef $limit;
        }
        @order = ();
    }
    my @rows = map { { $main => $_ } } @cand;
    for my $j (@joins) {
        my ($mine, $other) = $j->{left}[0] eq $j->{table} ? ($j->{left}, $j->{right})
                                                            : ($j->{right}, $j->{left});
        die "emulator: unsupported SQL (a join's ON names the joined table)\n"
            unless $mine->[0] eq $j->{table};
        my $jt = $tb{ $j->{table} };
        my %index;
        if ($mine->[1] ne 'id') {
            for my $id ($g->_ids($jt)) {
                my $v = _sql_value($jt, $mine->[1], $id);
                push @{ $index{$v} }, $id if defined $v;
            }
        }
        @rows = map {
            my $row = $_;
            my $v = _cell(\%tb, $row, $other);
            my $hits = !defined $v ? undef
                     : $mine->[1] eq 'id' ? ($jt->{rows}{$v} ? [ $v ] : undef)
                     : $index{$v};
            $hits ? map { { %$row, $j->{table} => $_ } } @$hits : { %$row, $j->{table} => undef };
        } @rows;
    }
    @where = @rest;
    for my $w (@where) {
        @rows = grep { _test(_cell(\%tb, $_, $w->{col}), $w) } @rows;
    }
    if (@order) {
        @rows = sort {
            my $r = 0;
            for my $o (@order) {
                $r = $o->[1] * Ferry::Grist::_cmp(_cell(\%tb, $a, $o->[0]), _cell(\%tb, $b, $o->[0]));
                last if $r;
            }
            $r;
        } @rows;
    }
    if (defined $offset) {
        die "emulator: OFFSET must be a number\n" unless $offset =~ /^\d+\z/;
        splice @rows, 0, $offset;
    }
    if (defined $limit) {
        die "emulator: LIMIT must be a number\n" unless $limit =~ /^-?\d+\z/;
        splice @rows, $limit if $limit >= 0 && @rows > $limit;
    }
    my @out;
    for my $row (@rows) {
        my %f;
        for my $it (@sel) {
            if (exists $it->{star} || $it->{col}[1] eq '*') {
                my @st = exists $it->{star} ? @tables : ($it->{col}[0]);
                for my $t (@st) {
                    for my $c ('id', 'manualSort', @{ $tb{$t}{cols} }) {
                        $f{$c} = _cell(\%tb, $row, [ $t, $c ]);
                    }
                }
            } else {
                $f{ $it->{as} } = _cell(\%tb, $row, $it->{col});
            }
        }
        push @out, \%f;
    }
    return { records => \@out, tables => \@tables };
}

sub _is_number { my ($v) = @_; return defined $v && !ref $v && $v =~ /^-?\d+(\.\d+)?(e[-+]?\d+)?\z/i }

sub _sql_value {
    my ($tb, $col, $id) = @_;
    return 0 + $id if $col eq 'id';
    my $v = $tb->{rows}{$id}{$col};
    return $v unless ref $v eq 'ARRAY';
    return '[' . join(',', @$v) . ']';
}

sub _cell {
    my ($tb, $row, $ref) = @_;
    my $id = $row->{ $ref->[0] };
    return undef unless defined $id;
    return _sql_value($tb->{ $ref->[0] }, $ref->[1], $id);
}

sub _test {
    my ($v, $w) = @_;
    my $op = $w->{op};
    return !defined $v if $op eq 'null';
    return defined $v if $op eq 'notnull';
    return 0 unless defined $v;
    if ($op eq 'in') {
        return scalar grep { defined $_ && Ferry::Grist::_cmp($v, $_) == 0 } @{ $w->{vals} };
    }
    my $x = $w->{val};
    return 0 unless defined $x;
    my $c = Ferry::Grist::_cmp($v, $x);
    return $op eq '>=' ? $c >= 0 : $op eq '>' ? $c > 0 : $op eq '<=' ? $c <= 0
         : $op eq '<' ? $c < 0 : $op =~ /^(!=|<>)\z/ ? $c != 0 : $c == 0;
}

1;
