// @ts-check
// protocol.js — the shapes of the Confab API, declared once for the web client as
// JSDoc types. They mirror the Rust types of crates/protocol (`confab_protocol::http`
// and `confab_protocol::ws`) and the records of crates/core, as docs/api.md documents
// them. Other modules import them with `@typedef {import('./protocol.js').Name} Name`;
// this file has no code.

// ---- Records ---------------------------------------------------------------------

/**
 * @typedef {string} Id  A ULID.
 * @typedef {number} Millis  Milliseconds since the Unix epoch.
 * @typedef {'owner' | 'admin' | 'member' | 'guest'} Role
 * @typedef {'online' | 'away' | 'offline'} Presence
 */

/**
 * What a member says about themselves besides their name (`PATCH /me`); each field is
 * absent while not set.
 * @typedef {object} ProfileDetails
 * @property {string} [status_text]  One line, at most 100 characters.
 * @property {string} [status_emoji]  One emoji character.
 * @property {string} [time_zone]  An IANA name (`Europe/Berlin`): the member's local time.
 * @property {string} [avatar]  The picture's version (`GET /users/{id}/avatar`), if there is one.
 */

/**
 * An account; others see only its {@link UserProfile}.
 * @typedef {ProfileDetails & {
 *   id: Id, email: string, username: string, display_name: string,
 *   instance_admin: boolean, created_at: Millis
 * }} User
 */

/** @typedef {ProfileDetails & {id: Id, username: string, display_name: string}} UserProfile */

/**
 * `PATCH /me`: only the fields given change; an empty string clears a status or time zone.
 * @typedef {object} UpdateProfile
 * @property {string} [display_name]
 * @property {string} [status_text]
 * @property {string} [status_emoji]  The character or a `:shortcode:`.
 * @property {string} [time_zone]
 */

/**
 * @typedef {object} Workspace
 * @property {Id} id
 * @property {string} name
 * @property {Id} created_by
 * @property {Millis} created_at
 */

/** @typedef {Workspace & {role: Role}} WorkspaceView  A workspace as listed for one of its members. */

/**
 * `GET /workspaces/{ws}/members`; `is_bot` marks a bot's or an incoming webhook's account.
 * @typedef {UserProfile & {role: Role, joined_at: Millis, is_bot?: boolean}} MemberView
 */

/** @typedef {UserProfile & {joined_at: Millis}} ChannelMemberView  `GET /channels/{ch}/members`. */

/**
 * @typedef {object} Channel
 * @property {Id} id
 * @property {Id} workspace
 * @property {string} name
 * @property {'public' | 'private' | 'dm'} kind
 * @property {string} topic
 * @property {boolean} archived
 * @property {Id} created_by
 * @property {Millis} created_at
 */

/**
 * One channel of the caller's list, with their unread state.
 * @typedef {Channel & {
 *   is_member: boolean, last_seq: number, last_read_seq: number, unread_count: number,
 *   mention_count: number, thread_mention_count: number, notify: NotifyLevel, member_count: number,
 *   dm_members?: UserProfile[]
 * }} ChannelView  `mention_count` counts unread mentions in thread replies too, `thread_mention_count` how many of them.
 */

/**
 * Which new messages of a channel notify the caller (`PUT /channels/{ch}/notifications`).
 * @typedef {'all' | 'mentions' | 'mute'} NotifyLevel
 */

/**
 * @typedef {object} Reaction
 * @property {string} emoji
 * @property {Id[]} users
 */

/**
 * @typedef {object} Message
 * @property {Id} id
 * @property {Id} workspace
 * @property {Id} channel
 * @property {number} seq  Gapless per channel from 1.
 * @property {Id} author
 * @property {string} text  Empty once deleted.
 * @property {Millis} created_at
 * @property {Millis} [edited_at]
 * @property {boolean} deleted
 * @property {Id} [thread_root]
 * @property {number} reply_count
 * @property {Millis} [last_reply_at]
 * @property {Reaction[]} reactions
 * @property {Id[]} mentions
 * @property {string} [client_msg_id]
 * @property {Id[]} [files]  The ids of its files ({@link FileInfo}), if it has any.
 */

/**
 * An uploaded file (`File` in docs/api.md): its bytes are `GET /files/{id}`, a
 * raster image's thumbnail `GET /files/{id}/thumb`.
 * @typedef {object} FileInfo
 * @property {Id} id
 * @property {string} name  Sanitised: no path, no control characters.
 * @property {number} size  Bytes.
 * @property {string} content_type  Sniffed from the content by the server.
 */

/**
 * @typedef {object} Thread
 * @property {Message} root
 * @property {Message[]} replies
 */

/**
 * @typedef {object} Invite
 * @property {string} code
 * @property {Id} workspace
 * @property {Id} created_by
 * @property {Millis} created_at
 * @property {Millis} expires_at
 * @property {number} max_uses
 * @property {number} uses
 * @property {Role} role
 */

// ---- Bots, webhooks, retention, erasure ----------------------------------------------

/**
 * A bot of the workspace (`GET /workspaces/{ws}/bots`): its own account, posting
 * through Slack's Web API with its token.
 * @typedef {object} Bot
 * @property {Id} id  The bot's account.
 * @property {Id} workspace
 * @property {string} name
 * @property {string} username
 * @property {boolean} is_bot
 * @property {Id} created_by
 * @property {Millis} created_at
 */

/**
 * `POST /workspaces/{ws}/bots`: the bot and its token, shown once.
 * @typedef {object} NewBot
 * @property {Bot} bot
 * @property {string} token  `xoxb-…`; stored hashed by the server.
 */

/**
 * An incoming webhook (`GET /workspaces/{ws}/webhooks`), without its secret.
 * @typedef {object} Webhook
 * @property {string} id
 * @property {Id} workspace
 * @property {Id} channel
 * @property {Id} bot  The account it posts as.
 * @property {Id} created_by
 * @property {Millis} created_at
 */

/**
 * `POST /workspaces/{ws}/webhooks`: the URL holds the secret and is shown once.
 * @typedef {object} NewWebhook
 * @property {string} id
 * @property {string} url
 * @property {Webhook} webhook
 */

/**
 * `GET/PUT /workspaces/{ws}/retention`: messages older than `days` days are deleted;
 * `null` keeps them for ever.
 * @typedef {object} RetentionPolicy
 * @property {number | null} days
 */

/**
 * `GET/PUT/DELETE /channels/{ch}/retention`: the channel's own policy if `set`, else
 * the workspace's is in force (`effective_days`).
 * @typedef {object} ChannelRetention
 * @property {number | null} days
 * @property {boolean} set
 * @property {number | null} effective_days
 */

/**
 * `GET/PUT /workspaces/{ws}/erasure`: what happens to an erased member's messages.
 * @typedef {object} ErasurePolicy
 * @property {'delete' | 'keep'} messages
 */

// ---- HTTP bodies (confab_protocol::http) -------------------------------------------

/**
 * The answer to sign-up and log-in.
 * @typedef {object} Session
 * @property {User} user
 * @property {string} token
 */

/**
 * `GET /invites/{code}`: where an invite leads, before accepting it.
 * @typedef {object} InvitePreview
 * @property {{id: Id, name: string}} workspace
 * @property {Role} role
 * @property {Millis} expires_at
 */

/**
 * @typedef {object} PresenceEntry
 * @property {Id} user
 * @property {Presence} status
 */

/**
 * `POST /channels/{ch}/files`: the uploaded file and the message posted with it.
 * @typedef {object} FilePosted
 * @property {FileInfo} file  The first of `files`.
 * @property {FileInfo[]} files  Every file of the message, in the order sent.
 * @property {Message} message
 */

/**
 * `GET /features`: what this server offers.
 * @typedef {object} Features
 * @property {boolean} search
 * @property {boolean} emoji_suggest
 * @property {boolean} channel_suggest
 * @property {boolean} consent
 * @property {number} [max_message_chars]  The longest message text taken (characters after trimming).
 */

/**
 * @typedef {object} EmojiSuggestion
 * @property {string} emoji
 * @property {string | null} shortcode  Its first shortcode, if it has one.
 * @property {string} name
 * @property {number} score
 */

/**
 * @typedef {object} ChannelSuggestion
 * @property {Channel} channel
 * @property {string} reason
 * @property {number} score
 */

/**
 * @typedef {object} SearchHit
 * @property {Message} message
 * @property {{id: Id, name: string, kind: Channel['kind']}} channel
 * @property {UserProfile} author
 * @property {{text: string, highlight: boolean}[]} snippet
 * @property {number} score
 * @property {Message} [thread_root]
 */

/**
 * @typedef {object} SearchAnswer
 * @property {string} query_id
 * @property {number} total
 * @property {boolean} partial
 * @property {SearchHit[]} hits
 */

/**
 * @typedef {'search_ranking' | 'emoji_suggestions' | 'channel_suggestions'} Purpose
 * @typedef {'messages' | 'reactions' | 'memberships' | 'search_interactions' | 'files'} Category
 */

/**
 * One purpose's policy, with the data categories that purpose may read.
 * @typedef {object} Policy
 * @property {Purpose} purpose
 * @property {number} version
 * @property {string} sha256
 * @property {string} text
 * @property {Category[]} categories
 */

/**
 * One purpose's grant in `GET /workspaces/{ws}/consent`; the terms are null while
 * it is not granted.
 * @typedef {object} PurposeState
 * @property {Purpose} purpose
 * @property {boolean} granted
 * @property {'workspace' | 'shared' | null} scope
 * @property {Category[]} categories
 * @property {'opt_in' | 'opt_out' | null} members
 * @property {number | null} policy_version
 * @property {string | null} policy_sha256
 * @property {Id | null} granted_by
 * @property {Millis | null} granted_at
 * @property {number | null} entry_seq  The ledger entry that set this state.
 * @property {string | null} entry_hash
 */

/**
 * The caller's own key for one purpose; `chosen` is false while the grant's member
 * mode decides.
 * @typedef {object} MemberConsent
 * @property {Purpose} purpose
 * @property {boolean} included
 * @property {boolean} chosen
 */

/**
 * `GET /workspaces/{ws}/consent`.
 * @typedef {object} ConsentView
 * @property {Id} workspace
 * @property {PurposeState[]} purposes
 * @property {number | null} head_seq
 * @property {string | null} head_hash
 * @property {Role} role
 * @property {MemberConsent[]} me
 * @property {{purpose: Purpose, opted_in: number, opted_out: number}[]} [member_counts]
 */

// ---- What not to miss: activity and threads -----------------------------------------

/**
 * One message of `GET /workspaces/{ws}/activity`: it mentions the caller, replies in
 * a thread they are in, or both.
 * @typedef {object} ActivityItem
 * @property {Message} message
 * @property {boolean} mention
 * @property {boolean} reply
 * @property {boolean} unread
 */

/**
 * `GET /workspaces/{ws}/activity`: newest first; `next` is the `before` of the next page.
 * @typedef {object} ActivityPage
 * @property {ActivityItem[]} items
 * @property {Id} [next]
 */

/**
 * A thread the caller is in (`GET /workspaces/{ws}/threads`).
 * @typedef {object} ThreadSummary
 * @property {Message} root
 * @property {Message[]} latest_replies  The newest (at most 3), oldest first.
 * @property {number} last_read_seq  The caller's read marker in the thread.
 * @property {number} unread_replies
 * @property {number} unread_mentions
 */

/**
 * @typedef {object} ThreadsPage
 * @property {ThreadSummary[]} threads  The most recently replied first.
 * @property {number} total
 */

/**
 * A message the caller saved (`GET /workspaces/{ws}/saved`).
 * @typedef {object} SavedItem
 * @property {Message} message
 * @property {Millis} saved_at
 */

/**
 * @typedef {object} SavedPage
 * @property {SavedItem[]} items  The most recently saved first.
 * @property {number} total
 */

/**
 * A message pinned to its channel (`GET /channels/{ch}/pins`).
 * @typedef {object} PinnedMessage
 * @property {Message} message
 * @property {Id} pinned_by
 * @property {Millis} pinned_at
 */

/**
 * @typedef {object} PinsPage
 * @property {PinnedMessage[]} pins  The most recently pinned first.
 */

/**
 * A model as an owner or admin sees it (`GET /workspaces/{ws}/models`): its manifest
 * with only this workspace's contribution; other workspaces are a count.
 * @typedef {object} ModelView
 * @property {ModelManifest} manifest
 * @property {number} other_contributors
 * @property {{at: Millis, reason: string} | null} retired
 * @property {boolean} served  Whether this workspace is served it now.
 */

/**
 * @typedef {object} ModelManifest
 * @property {string} id
 * @property {Purpose} purpose
 * @property {'workspace' | 'shared'} scope
 * @property {Id | null} workspace
 * @property {Millis} created_at
 * @property {string} code_version
 * @property {string} artifact_format
 * @property {ModelContributor[]} contributors  This workspace's own contribution only.
 * @property {Millis} data_cutoff
 * @property {{epsilon: number, mechanism: string, sensitivity: string, min_users_per_word?: number | null, min_workspaces_per_word?: number | null, noise: string}} privacy
 * @property {{metric: string, task: string, cases: number, trained: number, default: number, train_examples: number}} evaluation
 * @property {boolean} servable  It beat the default on held-out data.
 * @property {string} artifact_sha256
 */

/**
 * @typedef {object} ModelContributor
 * @property {Id} workspace
 * @property {number} entry_seq
 * @property {string} entry_hash
 * @property {number} policy_version
 * @property {'opt_in' | 'opt_out'} members
 * @property {number} member_count
 * @property {'workspace' | 'shared'} scope
 * @property {string[]} categories
 * @property {number} ledger_head_seq
 * @property {Millis} [retention_cutoff]
 */

// ---- WebSocket frames (confab_protocol::ws) ------------------------------------------

/**
 * The payload of an `event` frame (`confab_core::Event`): its `kind` says which.
 * @typedef {{kind: 'message.created' | 'message.updated', message: Message}
 *   | {kind: 'message.deleted', channel: Id, message_id: Id, seq: number, thread_root?: Id}
 *   | {kind: 'reaction.added' | 'reaction.removed', channel: Id, message_id: Id, emoji: string, user: Id}
 *   | {kind: 'message.pinned' | 'message.unpinned', channel: Id, message_id: Id, by: Id}
 *   | {kind: 'channel.created' | 'channel.updated', channel: Channel}
 *   | {kind: 'member.joined' | 'member.left', channel?: Id, user: Id}
 *   | {kind: 'workspace.updated', workspace: Workspace}
 *   | {kind: 'member.updated', user: Id, role: Role}
 *   | {kind: 'user.updated', user: Id}
 *   | {kind: 'read.updated', channel: Id, user: Id, seq: number, thread_root?: Id}
 *   | {kind: 'typing', channel: Id, user: Id, thread_root?: Id}
 *   | {kind: 'presence', user: Id, status: Presence}
 *   | {kind: 'consent.changed', purpose: Purpose, granted: boolean, by: Id, entry_hash: string, personal?: boolean}} Event
 */

/** @typedef {string | number} Req  A request id the client chose, echoed back. */

/**
 * @typedef {{type: 'auth', token: string, resume?: {workspace: Id, after: number}[]}
 *   | {type: 'send', req: string, channel: Id, text: string, thread_root?: Id, client_msg_id?: string}
 *   | {type: 'typing', channel: Id, thread_root?: Id}
 *   | {type: 'presence', status: 'online' | 'away'}
 *   | {type: 'ping', req?: Req}} ClientFrame
 */

/**
 * @typedef {{type: 'hello', user: User, workspaces: {id: Id, event_seq: number}[]}
 *   | {type: 'event', workspace: Id, event_seq: number, ephemeral?: boolean, event: Event}
 *   | {type: 'ack', req: string, message: Message}
 *   | {type: 'error', req?: Req, error: {code: string, message: string}}
 *   | {type: 'pong', req?: Req}
 *   | {type: 'resync', workspace: Id}} ServerFrame
 */

export {};
