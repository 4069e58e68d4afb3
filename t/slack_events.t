#!/usr/bin/perl
# ferryd's side of the Slack Events API (issue 11): event callbacks, as the
# module hands them over once their signature is checked, become entities
# like an export's objects; a repeated event_id is applied once; unknown
# events are answered 200 and only logged at DEBUG; old event ids are purged.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $J = Ferry::Test::json();
$t->start_pg->migrate;
$t->start_ferryd(LOG_LEVEL => 'debug', SLACK_EVENT_TTL => 60);

my $n = 0;
sub event {
    my ($ev, %o) = @_;
    my $body = { type => 'event_callback', team_id => 'T1',
                 event_id => $o{id} // 'Ev' . ++$n, event => $ev };
    my ($h, $b) = $t->ferryd_request({ v => 1, rid => "ev$n", method => 'POST',
        path => '/slack/events', query => {}, user => undef, body => $body });
    return ($h->{status}, $J->decode($b || '{}'));
}

sub entity { $t->psql("SELECT raw_data->>'$_[2]' FROM entities WHERE entity_type = '$_[0]' AND slack_id = '$_[1]'") }
sub count { $t->psql("SELECT count(*) FROM entities WHERE entity_type = '$_[0]'") }
sub rel { $t->psql("SELECT count(*) FROM entity_relations r JOIN entities f ON f.id = r.from_entity_id "
                 . "JOIN entities t ON t.id = r.to_entity_id WHERE relation_type = '$_[0]' "
                 . "AND f.slack_id = '$_[1]' AND t.slack_id = '$_[2]'") }

my ($s) = event({ type => 'team_join', user => { id => 'U1', name => 'ann', real_name => 'Ann' } });
is($s, 200, 'team_join: 200');
is(entity('user', 'U1', 'username'), 'ann', 'a user row, with username');
event({ type => 'channel_created', channel => { id => 'C1', name => 'general', created => 1 } });
is(entity('channel', 'C1', 'name'), 'general', 'channel_created: a channel');

($s) = event({ type => 'message', channel => 'C1', user => 'U1', text => 'hello', ts => '100.1' }, id => 'EvM');
is($s, 200, 'message: 200');
is(entity('message', 'C1:100.1', 'text'), 'hello', 'a message keyed <channel>:<ts>');
is(rel('posted_in', 'C1:100.1', 'C1'), 1, 'posted_in its channel');
is(rel('posted_by', 'U1', 'C1:100.1'), 1, 'posted_by its author');

my ($s2, $b2) = event({ type => 'message', channel => 'C1', user => 'U1', text => 'changed twice?', ts => '100.1' },
                      id => 'EvM');
is($s2, 200, 'the same event_id again: 200 (Slack must not retry)');
ok($b2->{duplicate}, 'marked as a repeat');
is(entity('message', 'C1:100.1', 'text'), 'hello', 'and not applied');

$t->psql("UPDATE entities SET status = 'success', mattermost_id = 'mm1' WHERE slack_id = 'C1:100.1'");
event({ type => 'message', subtype => 'message_changed', channel => 'C1',
        message => { type => 'message', user => 'U1', text => 'hello, edited', ts => '100.1',
                     edited => { user => 'U1', ts => '101.0' } } });
is(entity('message', 'C1:100.1', 'text'), 'hello, edited', 'message_changed: the new text');
is($t->psql("SELECT status || ' ' || mattermost_id FROM entities WHERE slack_id = 'C1:100.1'"), 'pending mm1',
   'an exported message changed goes back to pending, keeping its Mattermost id');

event({ type => 'message', channel => 'C1', user => 'U1', text => 'reply', ts => '102.0', thread_ts => '100.1' });
is(rel('thread_reply', 'C1:102.0', 'C1:100.1'), 1, 'a reply: thread_reply to its root');

event({ type => 'reaction_added', user => 'U1', reaction => 'tada', item => { type => 'message', channel => 'C1', ts => '100.1' } });
is(entity('reaction', 'C1:100.1:tada:U1', 'name'), 'tada', 'reaction_added: a reaction row');
is(rel('reacted_to', 'C1:100.1:tada:U1', 'C1:100.1'), 1, 'reacted_to the message');
is(rel('reacted_by', 'U1', 'C1:100.1:tada:U1'), 1, 'reacted_by the user');
event({ type => 'reaction_removed', user => 'U1', reaction => 'tada', item => { type => 'message', channel => 'C1', ts => '100.1' } });
is(entity('reaction', 'C1:100.1:tada:U1', 'removed'), 'true', 'reaction_removed: marked removed');

event({ type => 'message', subtype => 'message_deleted', channel => 'C1', deleted_ts => '102.0' });
is(entity('message', 'C1:102.0', 'deleted'), 'true', 'message_deleted: marked deleted');

event({ type => 'channel_rename', channel => { id => 'C1', name => 'general-2' } });
is(entity('channel', 'C1', 'name'), 'general-2', 'channel_rename: the new name');

event({ type => 'emoji_changed', subtype => 'add', name => 'party', value => 'https://x/party.png' });
is(entity('custom_emoji', 'party', 'url'), 'https://x/party.png', 'emoji_changed add: a custom emoji');
event({ type => 'emoji_changed', subtype => 'remove', names => ['party'] });
is(entity('custom_emoji', 'party', 'removed'), 'true', 'emoji_changed remove: marked removed');

event({ type => 'file_shared', file_id => 'F1', channel_id => 'C1' });
is(entity('attachment', 'F1', 'id'), 'F1', 'file_shared: an attachment known by its id');
event({ type => 'message', channel => 'C1', user => 'U1', ts => '103.0', text => '',
        files => [{ id => 'F1', name => 'report.pdf', size => 10 }] });
is(entity('attachment', 'F1', 'name'), 'report.pdf', 'the message that shares it brings the whole file');
is(rel('attached_to', 'F1', 'C1:103.0'), 1, 'attached_to it');

my $users = count('user');
($s) = event({ type => 'app_mention_of_the_future', text => 'x' });
is($s, 200, 'an unknown event type: 200');
is(count('user'), $users, 'writes nothing');
like($t->read_file('ferryd.log'), qr/DEBUG .*app_mention_of_the_future not handled/, 'and is logged at DEBUG');
my ($h) = $t->ferryd_request({ v => 1, rid => 'x', method => 'POST', path => '/slack/events', query => {},
                                user => undef, body => { type => 'app_rate_limited' } });
is($h->{status}, 200, 'a callback that is no event: 200');

# invalid UTF-8 in a message is refused whole (422), not written half
my $bad = '{"v":1,"rid":"u","method":"POST","path":"/slack/events","query":{},"user":null,'
        . '"body":{"type":"event_callback","event_id":"EvBad","event":{"type":"message",'
        . "\"channel\":\"C1\",\"ts\":\"104.0\",\"text\":\"bad \xff\"}}}";
($h) = $t->ferryd_request($bad);
is($h->{status}, 422, 'a message with bytes that are not UTF-8: 422');
is($t->psql("SELECT count(*) FROM entities WHERE slack_id = 'C1:104.0'"), 0, 'nothing written');

# event ids are forgotten after SLACK_EVENT_TTL (60 s here), by the scheduler
$t->psql("UPDATE slack_events SET received_at = now() - interval '2 minutes' WHERE event_id = 'EvM'");
$t->stop_ferryd;
$t->start_ferryd(LOG_LEVEL => 'debug', SLACK_EVENT_TTL => 60);
$t->wait_for('the purge', sub { $t->psql("SELECT count(*) FROM slack_events WHERE event_id = 'EvM'") == 0 });
is($t->psql("SELECT count(*) FROM slack_events WHERE event_id = 'EvM'"), 0, 'an old event id is purged');
ok($t->psql('SELECT count(*) FROM slack_events') > 5, 'the recent ones stay');

$t->done;
