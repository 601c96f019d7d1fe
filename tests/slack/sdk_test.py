"""Drives Confab's /api/slack/ with Slack's own Python SDK (slack_sdk.WebClient):
every method served, cursor paging, Slack's error names, a bot token and a user
token. Run by tests/e2e/slack_api.rs against a real server; the environment names
the server and what the Rust side set up. Exits non-zero on the first failure."""

import json
import os
import time
import urllib.request

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

env = os.environ
BASE = env["SLACK_BASE"]
user = WebClient(token=env["USER_TOKEN"], base_url=BASE)
bot = WebClient(token=env["BOT_TOKEN"], base_url=BASE)
GENERAL, ARCHIVED, SECRET = env["GENERAL"], env["ARCHIVED"], env["SECRET"]
checked = set()


def fails(error, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except SlackApiError as e:
        assert e.response["ok"] is False, e.response.data
        assert e.response["error"] == error, (error, e.response.data)
        return e.response
    raise AssertionError(f"expected {error} from {call}")


def covered(method):
    checked.add(method)


started = time.monotonic()

# auth.test: a user token and a bot token; bad and missing tokens.
me = user.auth_test()
assert me["user_id"] == env["USER_ID"] and me["team_id"] == env["TEAM_ID"], me.data
assert "bot_id" not in me.data
b = bot.auth_test()
assert b["team_id"] == env["TEAM_ID"] and b["bot_id"] == b["user_id"] == env["BOT_ID"], b.data
fails("invalid_auth", WebClient(token="xoxb-not-a-token", base_url=BASE).auth_test)
fails("invalid_auth", WebClient(token="xoxp-nope", base_url=BASE).auth_test)
fails("not_authed", WebClient(base_url=BASE).auth_test)
fails("unknown_method", user.api_call, "nope.nothing")
covered("auth.test")

# A bot posts only where it has joined: no auto-join.
fails("not_in_channel", bot.chat_postMessage, channel=GENERAL, text="too early")
joined = bot.conversations_join(channel=GENERAL)
assert joined["channel"]["id"] == GENERAL and joined["channel"]["is_member"] is True, joined.data
covered("conversations.join")

# chat.postMessage: text with Slack markup, blocks, threads, errors.
posted = bot.chat_postMessage(channel=GENERAL, text=f"deploy <https://ci.example.com/1|build 1> done <@{env['USER_ID']}> :tada:")
ts = posted["ts"]
assert posted["channel"] == GENERAL and posted["message"]["ts"] == ts, posted.data
assert posted["message"]["text"] == f"deploy build 1 (https://ci.example.com/1) done @{me['user']} 🎉", posted.data
assert posted["message"]["bot_id"] == env["BOT_ID"], posted.data
blocks = bot.chat_postMessage(
    channel=GENERAL, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*block* text"}}]
)
assert blocks["message"]["text"] == "*block* text", blocks.data
reply = user.chat_postMessage(channel=GENERAL, text="a reply", thread_ts=ts, reply_broadcast=False)
assert reply["message"]["thread_ts"] == ts, reply.data
fails("no_text", bot.chat_postMessage, channel=GENERAL, text="")
fails("msg_too_long", bot.chat_postMessage, channel=GENERAL, text="x" * 40001)
fails("channel_not_found", bot.chat_postMessage, channel="C0000000000000000000000000", text="x")
fails("channel_not_found", bot.chat_postMessage, channel=SECRET, text="not a member of the private one")
fails("is_archived", user.chat_postMessage, channel=ARCHIVED, text="into the archive")
fails("thread_not_found", bot.chat_postMessage, channel=GENERAL, text="x", thread_ts="1.000001")
covered("chat.postMessage")

# conversations.history: newest first, replies in their thread, cursor paging, and a
# ts from history works in chat.update.
for i in range(5):
    bot.chat_postMessage(channel=GENERAL, text=f"numbered {i}")
seen, cursor, pages = [], None, 0
while True:
    page = user.conversations_history(channel=GENERAL, limit=2, cursor=cursor)
    seen += [m["text"] for m in page["messages"]]
    pages += 1
    cursor = page["response_metadata"]["next_cursor"]
    if not cursor:
        assert page["has_more"] is False
        break
    assert page["has_more"] is True
assert pages >= 4, pages
numbered = [t for t in seen if t.startswith("numbered")]
assert numbered == [f"numbered {i}" for i in reversed(range(5))], seen
assert "a reply" not in seen, "replies stay in their thread"
fails("invalid_cursor", user.conversations_history, channel=GENERAL, cursor="bm90IGEgY3Vyc29y")
newest = user.conversations_history(channel=GENERAL, limit=1)["messages"][0]
updated = bot.chat_update(channel=GENERAL, ts=newest["ts"], text="numbered four, edited")
assert updated["ts"] == newest["ts"] and updated["text"] == "numbered four, edited", updated.data
fails("cant_update_message", user.chat_update, channel=GENERAL, ts=newest["ts"], text="not mine")
fails("message_not_found", bot.chat_update, channel=GENERAL, ts="1.000001", text="x")
covered("conversations.history")
covered("chat.update")

# conversations.replies: the root and its reply.
thread = bot.conversations_replies(channel=GENERAL, ts=ts)
assert [m["text"] for m in thread["messages"]][1:] == ["a reply"], thread.data
assert thread["messages"][0]["reply_count"] == 1
covered("conversations.replies")

# reactions: Slack's names both ways, and their errors.
bot.reactions_add(channel=GENERAL, timestamp=ts, name="tada")
user.reactions_add(channel=GENERAL, timestamp=ts, name="+1::skin-tone-3")
fails("already_reacted", bot.reactions_add, channel=GENERAL, timestamp=ts, name="tada")
fails("invalid_name", bot.reactions_add, channel=GENERAL, timestamp=ts, name="not-an-emoji-at-all")
got = user.reactions_get(channel=GENERAL, timestamp=ts)
names = {r["name"]: r["users"] for r in got["message"]["reactions"]}
assert names == {"tada": [env["BOT_ID"]], "+1::skin-tone-3": [env["USER_ID"]]}, got.data
bot.reactions_remove(channel=GENERAL, timestamp=ts, name="tada")
fails("no_reaction", bot.reactions_remove, channel=GENERAL, timestamp=ts, name="tada")
assert [r["name"] for r in user.reactions_get(channel=GENERAL, timestamp=ts)["message"]["reactions"]] == ["+1::skin-tone-3"]
covered("reactions.add")
covered("reactions.remove")
covered("reactions.get")

# chat.delete; the message is gone.
bot.chat_delete(channel=GENERAL, ts=blocks["ts"])
fails("message_not_found", bot.chat_delete, channel=GENERAL, ts=blocks["ts"])
covered("chat.delete")

# conversations.create / info / list (types, paging) / members (paging).
created = bot.conversations_create(name="bot-made", is_private=False)
assert created["channel"]["name"] == "bot-made" and created["channel"]["is_channel"] is True, created.data
fails("name_taken", bot.conversations_create, name="bot-made")
fails("invalid_name_specials", bot.conversations_create, name="Not Valid!")
private = user.conversations_create(name="user-private", is_private=True)
assert private["channel"]["is_private"] is True and private["channel"]["is_group"] is True
covered("conversations.create")
info = user.conversations_info(channel=GENERAL)
assert info["channel"]["is_general"] is True and info["channel"]["name"] == "general", info.data
fails("channel_not_found", bot.conversations_info, channel=SECRET)
covered("conversations.info")
ids, cursor = [], None
while True:
    page = user.conversations_list(types="public_channel,private_channel", limit=1, cursor=cursor)
    assert len(page["channels"]) <= 1
    ids += [c["id"] for c in page["channels"]]
    cursor = page["response_metadata"]["next_cursor"]
    if not cursor:
        break
assert GENERAL in ids and SECRET in ids and private["channel"]["id"] in ids and len(ids) == len(set(ids)), ids
public_only = [c["name"] for c in user.conversations_list(exclude_archived=True)["channels"]]
assert "general" in public_only and "old" not in public_only and "secret" not in public_only, public_only
bot_sees = [c["id"] for c in bot.conversations_list(types="public_channel,private_channel")["channels"]]
assert SECRET not in bot_sees, "a bot sees no private channel it is not in"
fails("invalid_types", user.conversations_list, types="everything")
covered("conversations.list")
members, cursor = [], None
while True:
    page = user.conversations_members(channel=GENERAL, limit=1, cursor=cursor)
    members += page["members"]
    cursor = page["response_metadata"]["next_cursor"]
    if not cursor:
        break
assert env["USER_ID"] in members and env["BOT_ID"] in members, members
covered("conversations.members")

# users.list (paging), users.info, users.lookupByEmail.
users, cursor = [], None
while True:
    page = bot.users_list(limit=1, cursor=cursor)
    users += page["members"]
    cursor = page["response_metadata"]["next_cursor"]
    if not cursor:
        break
by_id = {u["id"]: u for u in users}
assert by_id[env["BOT_ID"]]["is_bot"] is True and by_id[env["USER_ID"]]["is_bot"] is False, users
assert by_id[env["USER_ID"]]["is_owner"] is True
covered("users.list")
assert bot.users_info(user=env["USER_ID"])["user"]["name"] == me["user"]
fails("user_not_found", bot.users_info, user="U0000000000000000000000000")
covered("users.info")
assert bot.users_lookupByEmail(email=env["USER_EMAIL"])["user"]["id"] == env["USER_ID"]
fails("users_not_found", bot.users_lookupByEmail, email="nobody@example.com")
covered("users.lookupByEmail")

# search.messages: a user token; a bot token is refused, as in Slack.
# The index is near-real-time (a new message is searchable within a second).
for _ in range(100):
    found = user.search_messages(query="numbered", count=2)
    if found["messages"]["total"] >= 5:
        break
    time.sleep(0.05)
assert found["messages"]["total"] >= 5 and len(found["messages"]["matches"]) == 2, found.data
match = found["messages"]["matches"][0]
assert match["channel"]["id"] == GENERAL and match["text"].startswith("numbered"), match
fails("not_allowed_token_type", bot.search_messages, query="numbered")
covered("search.messages")

# A form-encoded POST with the token as an argument, and a GET query, as curl
# scripts send them.
form = urllib.parse.urlencode({"token": env["BOT_TOKEN"], "channel": GENERAL, "text": "from curl"}).encode()
with urllib.request.urlopen(urllib.request.Request(BASE + "chat.postMessage", data=form)) as r:
    answer = json.load(r)
assert answer["ok"] is True and answer["message"]["text"] == "from curl", answer
query = urllib.parse.urlencode({"token": env["BOT_TOKEN"], "channel": GENERAL, "limit": 1})
with urllib.request.urlopen(BASE + "conversations.history?" + query) as r:
    assert json.load(r)["messages"][0]["text"] == "from curl"

# ratelimited: Slack posts count against [limits]; 429 with Retry-After.
try:
    for i in range(100):
        user.chat_postMessage(channel=GENERAL, text=f"flood {i}")
    raise AssertionError("no rate limit")
except SlackApiError as e:
    assert e.response.status_code == 429 and e.response["error"] == "ratelimited", e.response.data
    assert int(e.response.headers["Retry-After"]) >= 1, e.response.headers

expected = set(json.loads(env["METHODS"])) - {"api.test"}
assert checked == expected, expected - checked
print(f"slack_sdk: every method checked: {len(checked)} in {time.monotonic() - started:.1f} s")
