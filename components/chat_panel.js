// The chat panel: the top bar, Load more and the message list, as one light element per client that receives
// messages as data. Messages are kept sorted by key and never shown twice. A message's own text is shown as text; the
// only HTML shown is the server's rendering of it (m.html, sanitized by chat/markdown.py), never HTML from a browser.

// consecutive messages of one author within this time show the name and time once
const GROUP_MS = 5 * 60 * 1000;
// a name character after "@name" makes it another name ("@Ana" is not "@Anabel")
const NAME_CHAR = "[\\p{L}\\p{N}\\p{M}_-]";
const NOTIFY_BODY = 100; // characters of the text shown in a notification
const DARK = "sinchchat:dark"; // the reader's choice over the system's; frame.py applies it on every page

// made once: every render of the list formats each message's time, and a formatter is costly to make
const TIME = new Intl.DateTimeFormat([], { hour: "numeric", minute: "2-digit" });
const FULL = new Intl.DateTimeFormat([], { dateStyle: "full", timeStyle: "short" });
const DAY = new Intl.DateTimeFormat([], { weekday: "long", month: "long", day: "numeric" });
const DAY_AND_YEAR = new Intl.DateTimeFormat([], { weekday: "long", month: "long", day: "numeric", year: "numeric" });

// a formatter throws on an invalid date, and one message must never break the list
function format(formatter, date) {
  return Number.isNaN(date.getTime()) ? "" : formatter.format(date);
}

function notificationState() {
  return "Notification" in window ? Notification.permission : "absent";
}

export default {
  template: `
    <div class="sc-panel" :class="{ 'sc-menu-open': menuOpen }">
      <nav aria-label="Rooms" class="sc-rooms" id="sc-rooms">
        <div class="sc-rooms-head">Rooms</div>
        <a
          v-for="r in roomList"
          :key="r.id"
          :href="r.path"
          class="sc-room"
          :aria-current="r.id === room.id ? 'page' : null"
          :title="badge(r.id) ? badge(r.id) + ' unread' : null"
        >
          <span class="sc-room-name">{{ r.name }}</span>
          <span v-if="badge(r.id)" class="sc-unread">{{ badge(r.id) }}</span>
        </a>
        <button v-if="!creating" ref="newRoom" type="button" class="sc-new-room" @click="startCreate">New room</button>
        <form v-else class="sc-room-form" @submit.prevent="create">
          <label class="sc-room-label">
            Room name
            <input ref="roomName" v-model="roomName" maxlength="80" autocomplete="off" class="sc-room-input"
              :aria-invalid="roomError ? 'true' : 'false'" @keydown.esc.stop="cancelCreate" @input="roomError = null" />
          </label>
          <div v-if="roomError" class="sc-error text-sm" role="alert">{{ roomError }}</div>
          <div class="row gap-2 no-wrap">
            <button type="submit" class="sc-create" :disabled="submitting">Create</button>
            <button type="button" class="sc-cancel" @click="cancelCreate">Cancel</button>
          </div>
        </form>
        <div class="sc-rooms-head sc-online-head" id="sc-online-head">Online</div>
        <ul aria-label="Online" class="sc-online">
          <li v-for="p in onlineShown" :key="p[0]" class="sc-person" :class="{ 'sc-me-online': p[0] === me }">{{ p[1] }}</li>
          <li v-if="onlineMore" class="sc-person sc-more">and {{ onlineMore }} more</li>
        </ul>
        <button v-if="notifications === 'default'" type="button" class="sc-notify" @click="askNotifications">
          Enable notifications
        </button>
        <div v-else-if="notifications === 'denied'" class="sc-notify-off">Notifications blocked</div>
      </nav>
      <div class="sc-bar row items-center justify-between no-wrap">
        <div class="row items-center gap-2 no-wrap sc-title">
          <button ref="menu" type="button" class="sc-menu" aria-label="Rooms" aria-controls="sc-rooms"
            :aria-expanded="menuOpen ? 'true' : 'false'" @click="menuOpen = !menuOpen">
            <span aria-hidden="true">☰</span><span v-if="unreadTotal" class="sc-unread">{{ unreadTotal }}</span>
          </button>
          <span class="text-slate-500 sc-brand">sinchchat</span>
          <h1 class="sc-room-title text-lg font-semibold">{{ room.name }}</h1>
        </div>
        <div class="row items-center gap-3 no-wrap">
          <button type="button" class="sc-dark" aria-label="Dark mode" title="Dark mode"
            :aria-pressed="$q.dark.isActive ? 'true' : 'false'" @click="toggleDark">
            <span aria-hidden="true">{{ $q.dark.isActive ? "☀" : "☾" }}</span>
          </button>
          <div class="sc-me text-slate-600">{{ name }}</div>
          <q-btn flat dense no-caps label="Log out" @click="$emit('logout')" />
        </div>
      </div>
      <div ref="scroller" class="sc-list" @scroll="onScroll">
        <div class="sc-top">
          <q-btn v-if="hasMore" flat label="Load more" :disable="loading" @click="loadMore" />
          <div v-else class="text-slate-400 text-sm">This is the start of the conversation.</div>
        </div>
        <template v-for="{ m, head, day, mention } in rows" :key="m.key">
        <h2 v-if="day" class="sc-day">{{ day }}</h2>
        <div
          class="sc-msg"
          :class="{ 'sc-own': m.author_id === me, 'sc-pending': m.status === 'pending', 'sc-failed': m.status === 'failed',
            'sc-cont': !head, 'sc-mention': mention }"
          :data-key="m.key"
          :title="head ? null : full(m.created_at)"
        >
          <div class="sc-meta">
            <span class="sc-author" :class="{ 'sc-sr': !head }">{{ m.author }}</span>
            <span v-if="mention" class="sc-sr">mentions you</span>
            <time class="sc-time" :class="{ 'sc-sr': !head }" :datetime="m.created_at" :title="full(m.created_at)">{{
              when(m.created_at) }}</time>
            <span v-if="m.edited_at && !m.deleted" class="sc-edited" :title="editedTitle(m.edited_at)">(edited)</span>
            <span v-if="m.author_id === me && !m.status && !m.deleted" class="sc-actions">
              <button type="button" class="sc-actions-btn" aria-label="Message actions" aria-haspopup="menu"
                :aria-expanded="acting === m.key ? 'true' : 'false'" @click="toggleActions(m.key)">⋯</button>
              <span v-if="acting === m.key" class="sc-menu-list" role="menu">
                <button type="button" role="menuitem" @click="editMessage(m)">Edit</button>
                <button v-if="!confirming" type="button" role="menuitem" @click="confirming = true">Delete</button>
                <button v-else type="button" role="menuitem" class="sc-danger" @click="deleteMessage(m)">
                  Delete message?</button>
              </span>
            </span>
            <span v-if="m.status === 'pending'" class="sc-status">sending…</span>
            <span v-if="m.status === 'failed'" class="sc-status sc-error">
              not sent<span v-if="m.error">: {{ m.error }}</span>
              <button type="button" class="sc-retry" @click="$emit('retry', m.key)">Retry</button>
            </span>
          </div>
          <div v-if="m.deleted" class="sc-text sc-deleted">This message was deleted.</div>
          <div v-else-if="m.html" class="sc-text sc-md" v-html="m.html"></div>
          <div v-else class="sc-text">{{ m.text }}</div>
          <div v-if="!m.status && !m.deleted" class="sc-reactions">
            <button
              v-for="[emoji, who] in reactionsOf(m)"
              :key="emoji"
              type="button"
              class="sc-reaction"
              :class="{ 'sc-mine': who.includes(me) }"
              :aria-pressed="who.includes(me) ? 'true' : 'false'"
              :aria-label="emoji + ' ' + who.length"
              @click="react(m, emoji, !who.includes(me))"
            >{{ emoji }} {{ who.length }}</button>
            <button type="button" class="sc-add-reaction" aria-label="Add reaction" title="Add reaction"
              :aria-expanded="picking === m.key ? 'true' : 'false'" @click="togglePicker(m.key)">☺+</button>
            <span v-if="picking === m.key" class="sc-palette" role="group" aria-label="Reactions">
              <button v-for="emoji in reactions" :key="emoji" type="button" class="sc-pick" :aria-label="emoji"
                @click="pick(m, emoji)">{{ emoji }}</button>
            </span>
          </div>
        </div>
        </template>
        <!-- not a live region: "is typing" changing every few seconds would talk over the messages -->
        <div class="sc-typing">{{ typingText }}</div>
      </div>
      <button v-if="unseen.length" type="button" class="sc-jump" @click="jump">
        {{ unseen.length === 1 ? "1 new message" : unseen.length + " new messages" }}
      </button>
      <div class="sc-sr" aria-live="polite">{{ announcement }}</div>
    </div>`,
  props: {
    messages: Array,
    name: String,
    me: String,
    limit: Number,
    more: Boolean,
    room: Object,
    rooms: Array,
    unread: Object,
    counted: String,
    reactions: Array,
    online: Object,
    typing: Array,
  },
  data() {
    return {
      items: [...(this.messages || [])],
      hasMore: this.more,
      loading: false,
      roomList: [...(this.rooms || [])],
      counts: { ...(this.unread || {}) },
      countedUpTo: this.counted || "", // activity about messages up to this key is in the counts already
      // per room: the newest key heard of, and how far this session has read (from other tabs)
      heard: {},
      readUpTo: {},
      menuOpen: false,
      creating: false,
      submitting: false,
      roomName: "",
      roomError: null,
      // keys of messages from others that arrived while the reader was scrolled up or away from the tab
      unseen: [],
      announcement: "", // the newest message from others, for screen readers
      notifications: notificationState(),
      today: new Date().toDateString(), // moves at midnight, so that "Today" does too
      acting: null, // the key whose actions menu is open
      confirming: false, // its Delete asks once more
      picking: null, // the key whose reaction palette is open
      // who has the room open (author_id -> name) and who types in it (author_id -> {name, until: ms})
      people: {},
      typists: {},
      clock: Date.now(),
    };
  },
  computed: {
    unreadTotal() {
      let total = 0;
      for (const r of this.roomList) if (r.id !== this.room.id) total += this.counts[r.id] || 0;
      return total > 99 ? "99+" : total;
    },
    // the messages as shown: whether each starts a group (name and time shown) and a day (a separator above)
    rows() {
      const today = new Date(); // this.today, read below, makes this list again when the day changes
      const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1).toDateString();
      const rows = [];
      let before = null;
      let beforeAt = 0;
      for (const m of this.items) {
        const date = new Date(m.created_at);
        const dayOf = date.toDateString();
        const newDay = before === null || new Date(beforeAt).toDateString() !== dayOf;
        const head = newDay || before.author_id !== m.author_id || date - beforeAt > GROUP_MS;
        let day = null;
        if (newDay) {
          if (dayOf === this.today) day = "Today";
          else if (dayOf === yesterday) day = "Yesterday";
          else day = format(date.getFullYear() === today.getFullYear() ? DAY : DAY_AND_YEAR, date);
        }
        rows.push({ m, head, day, mention: this.mentionsMe(m) });
        before = m;
        beforeAt = date.getTime();
      }
      return rows;
    },
    mention() {
      const name = (this.name || "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      return new RegExp(`(^|[^\\p{L}\\p{N}\\p{M}_])@${name}(?!${NAME_CHAR})`, "iu");
    },
    onlineList() {
      return Object.entries(this.people).sort(
        (a, b) => a[1].localeCompare(b[1], undefined, { sensitivity: "base" }) || (a[0] < b[0] ? -1 : 1),
      );
    },
    onlineShown() {
      return this.onlineList.slice(0, 50);
    },
    onlineMore() {
      return Math.max(0, this.onlineList.length - 50);
    },
    typingText() {
      const names = Object.entries(this.typists)
        .filter(([id, t]) => id !== this.me && t.until > this.clock)
        .map(([, t]) => t.name)
        .sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));
      if (names.length === 0) return "";
      if (names.length === 1) return `${names[0]} is typing…`;
      if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
      return "Several people are typing…";
    },
  },
  // a panel created by the Join button reaches the browser before its first page is read: the props follow
  watch: {
    messages(list) {
      this.add(list || [], false);
    },
    more(value) {
      this.hasMore = value;
    },
    "unseen.length"(count) {
      this.titleCount(count);
    },
    online(frame) {
      this.presence(frame || { all: [] });
    },
    typing(list) {
      this.typingNow(list || []);
    },
  },
  mounted() {
    this.scrollToBottom();
    this.presence(this.online || { all: [] });
    this.typingNow(this.typing || []);
    this.onPresence = (frame) => this.presence(frame);
    this.onTyping = (list) => this.typingNow(list);
    // typists go by themselves once their time is up, when nobody says more
    this.typingTimer = setInterval(() => {
      if (Object.keys(this.typists).length) this.clock = Date.now();
    }, 500);
    // while older history is left to load, what is older than our oldest message is for Load more, not news
    this.onMessages = (messages) => {
      const oldest = this.hasMore ? this.oldestKey() : null;
      this.add(oldest === null ? messages : messages.filter((m) => m.key > oldest));
      this.stoppedTyping(messages);
    };
    this.onActivity = (rooms) => this.activity(rooms);
    this.onRoom = (room) => this.addRoom(room);
    this.joinTries = 0;
    // the list unfolded over the chat (a narrow screen) folds away as a drawer does: Escape, or a click beside it
    this.onKey = (event) => {
      if (event.key === "Escape" && (this.acting || this.picking)) return this.closeMenus();
      if (event.key !== "Escape" || !this.menuOpen) return;
      this.menuOpen = false;
      this.$refs.menu?.focus();
    };
    this.onPointer = (event) => {
      // a message's menu or palette folds away at a click elsewhere, as the room list does
      if ((this.acting || this.picking) && !event.target.closest?.(".sc-actions, .sc-reactions")) this.closeMenus();
      if (this.menuOpen && !event.target.closest?.(".sc-rooms, .sc-menu")) this.menuOpen = false;
    };
    // the composer's Up arrow in an empty box: the reader's last message, if it can be edited
    this.onEditLast = () => {
      for (let i = this.items.length - 1; i >= 0; i--) {
        const m = this.items[i];
        if (m.author_id === this.me && !m.status && !m.deleted) return this.editMessage(m);
      }
    };
    window.addEventListener("sinchchat:edit-last", this.onEditLast);
    document.addEventListener("keydown", this.onKey);
    document.addEventListener("click", this.onPointer, true);
    this.onVisible = () => {
      if (document.hidden) return;
      this.seenIfAtBottom();
      this.notifications = notificationState(); // perhaps allowed or blocked in the browser's settings meanwhile
    };
    this.onSent = () => this.toNewest();
    document.addEventListener("visibilitychange", this.onVisible);
    window.addEventListener("sinchchat:sent", this.onSent);
    this.dayTimer = setInterval(() => {
      const today = new Date().toDateString();
      if (today !== this.today) this.today = today;
    }, 60_000);
    // the page's socket is created after its elements mount, and comes back with a new id after a reconnect
    const attach = () => {
      if (!window.socket) return (this.attachTimer = setTimeout(attach, 20));
      window.socket.on("sinchchat_messages", this.onMessages);
      window.socket.on("sinchchat_activity", this.onActivity);
      window.socket.on("sinchchat_room", this.onRoom);
      window.socket.on("sinchchat_presence", this.onPresence);
      window.socket.on("sinchchat_typing", this.onTyping);
      this.onConnect = () => this.join();
      window.socket.on("connect", this.onConnect);
      if (window.socket.connected) this.join();
    };
    attach();
  },
  unmounted() {
    window.removeEventListener("sinchchat:edit-last", this.onEditLast);
    document.removeEventListener("keydown", this.onKey);
    document.removeEventListener("click", this.onPointer, true);
    document.removeEventListener("visibilitychange", this.onVisible);
    window.removeEventListener("sinchchat:sent", this.onSent);
    clearInterval(this.dayTimer);
    this.titleCount(0);
    clearTimeout(this.attachTimer);
    clearTimeout(this.joinTimer);
    window.socket?.off("sinchchat_messages", this.onMessages);
    window.socket?.off("sinchchat_activity", this.onActivity);
    window.socket?.off("sinchchat_room", this.onRoom);
    window.socket?.off("sinchchat_presence", this.onPresence);
    window.socket?.off("sinchchat_typing", this.onTyping);
    clearInterval(this.typingTimer);
    window.socket?.off("connect", this.onConnect);
  },
  methods: {
    // the room's people: in full ({all}) with the page and on every join, else what changed ({add, gone})
    presence(frame) {
      const people = frame.all ? {} : { ...this.people };
      for (const [id, name] of frame.all || frame.add || []) people[id] = name;
      for (const id of frame.gone || []) delete people[id];
      this.people = people;
      // the composer suggests these people after an @
      const list = this.onlineList.map((p) => [p[0], p[1]]);
      setTimeout(() => window.dispatchEvent(new CustomEvent("sinchchat:online", { detail: list })), 0);
    },
    // who types now: [author_id, name, seconds they still count] each
    typingNow(list) {
      const now = Date.now();
      const typists = {};
      for (const [id, name, seconds] of list) typists[id] = { name, until: now + seconds * 1000 };
      this.typists = typists;
      this.clock = now;
    },
    // a message of someone typing arrived: they have sent what they typed
    stoppedTyping(messages) {
      let typists = null;
      for (const m of messages) {
        if (!this.typists[m.author_id]) continue;
        typists = typists || { ...this.typists };
        delete typists[m.author_id];
      }
      if (typists) this.typists = typists;
    },
    badge(roomId) {
      if (roomId === this.room.id) return "";
      const n = this.counts[roomId] || 0;
      return n > 99 ? "99+" : n > 0 ? String(n) : "";
    },
    // rooms with new messages somewhere: room -> [newest key, how many]
    activity(rooms) {
      for (const [roomId, [newest, count]] of Object.entries(rooms)) {
        if (roomId === this.room.id) continue;
        if (newest > (this.heard[roomId] || "")) this.heard[roomId] = newest;
        if (newest <= (this.readUpTo[roomId] || "")) continue; // read in another tab already
        if (newest <= this.countedUpTo) continue; // heard late (activity is coalesced): counted by the server
        this.counts[roomId] = (this.counts[roomId] || 0) + count;
      }
    },
    // this session read the room up to key in another tab
    read(roomId, key) {
      if (key > (this.readUpTo[roomId] || "")) this.readUpTo[roomId] = key;
      if (key >= (this.heard[roomId] || "")) this.counts[roomId] = 0;
    },
    // the room list as the server has it now (after this tab was away): it replaces what this tab counted
    setRooms(rooms, unread, counted) {
      this.roomList = rooms;
      this.counts = { ...unread };
      this.countedUpTo = counted;
    },
    addRoom(room) {
      if (this.roomList.some((r) => r.id === room.id)) return;
      const [lobby, ...others] = this.roomList;
      others.push(room);
      others.sort((a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: "base" }));
      this.roomList = [lobby, ...others];
    },
    startCreate() {
      this.creating = true;
      this.roomError = null;
      this.$nextTick(() => this.$refs.roomName?.focus());
    },
    cancelCreate() {
      this.creating = false;
      this.submitting = false;
      this.roomName = "";
      this.roomError = null;
      // the form goes with the focus in it: give the keyboard back to the button that opened it
      this.$nextTick(() => this.$refs.newRoom?.focus());
    },
    create() {
      const name = this.roomName.trim();
      if (!name) {
        this.roomError = "A room name needs at least 1 character.";
        return;
      }
      this.submitting = true;
      this.$emit("create_room", name);
    },
    // the server did not make the room; it says why (on success it takes the page to the room)
    roomRefused(error) {
      this.submitting = false;
      this.roomError = error;
      this.$nextTick(() => this.$refs.roomName?.focus());
    },
    loadMore() {
      if (this.loading) return;
      this.loading = true;
      this.$emit("load_more");
    },
    // the server's answer to Load more (and whether older messages are left, after a trim)
    setMore(more) {
      this.hasMore = more;
      this.loading = false;
    },
    // ask the server to put this socket in the room; its answer is what this view missed meanwhile
    join() {
      clearTimeout(this.joinTimer);
      const newest = this.newestKey();
      // again: this socket replaces one that went away, and the room list missed what was sent meanwhile (until
      // a join of the new socket is answered: the first tries may come before its handshake is done)
      if (this.socketId !== undefined && this.socketId !== window.socket.id) this.roomsMissed = true;
      this.socketId = window.socket.id;
      const again = this.roomsMissed === true;
      // changed: the newest change held, so the answer brings what was edited, deleted or reacted to meanwhile
      const changed = this.newestChange();
      window.socket.emit("sinchchat_join", { client_id: window.clientId, newest, again, changed }, (missed) => {
        if (missed === null || missed === undefined) {
          // the handshake of a new socket has not finished yet: try again shortly
          if (this.joinTries++ < 100) this.joinTimer = setTimeout(() => this.join(), 100);
          return;
        }
        this.joinTries = 0;
        if (again) this.roomsMissed = false;
        // the answer starts a little before our newest message, so nothing stored late is missed; while older
        // history is left to load, what is below our oldest message is for Load more to bring, not news
        const oldest = this.hasMore ? this.oldestKey() : null;
        const news = oldest === null ? missed : missed.filter((m) => m.key > oldest);
        if (news.length) this.add(news);
      });
    },
    newestChange() {
      let newest = null;
      for (const m of this.items) if (m.changed_at && (newest === null || m.changed_at > newest)) newest = m.changed_at;
      return newest;
    },
    reactionsOf(m) {
      const held = m.reactions || {};
      return (this.reactions || []).filter((e) => (held[e] || []).length > 0).map((e) => [e, held[e]]);
    },
    editedTitle(iso) {
      return "Edited " + new Date(iso).toLocaleString();
    },
    closeMenus() {
      this.acting = null;
      this.picking = null;
      this.confirming = false;
    },
    toggleActions(key) {
      const open = this.acting !== key;
      this.closeMenus();
      if (open) this.acting = key;
    },
    togglePicker(key) {
      const open = this.picking !== key;
      this.closeMenus();
      if (open) this.picking = key;
    },
    editMessage(m) {
      this.closeMenus();
      window.dispatchEvent(new CustomEvent("sinchchat:edit", { detail: { key: m.key, text: m.text } }));
    },
    deleteMessage(m) {
      this.closeMenus();
      this.$emit("delete", m.key);
    },
    react(m, emoji, on) {
      this.$emit("react", { key: m.key, emoji, on });
    },
    pick(m, emoji) {
      this.closeMenus();
      const mine = ((m.reactions || {})[emoji] || []).includes(this.me);
      if (!mine) this.react(m, emoji, true);
    },
    oldestKey() {
      for (const m of this.items) if (!m.status) return m.key;
      return null;
    },
    newestKey() {
      for (let i = this.items.length - 1; i >= 0; i--) if (!this.items[i].status) return this.items[i].key;
      return null;
    },
    atBottom() {
      const el = this.$refs.scroller;
      return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    },
    scrollToBottom() {
      this.$nextTick(() => {
        const el = this.$refs.scroller;
        if (el) el.scrollTop = el.scrollHeight;
      });
    },
    // the reader's own message is stored: it takes the place of what was shown as pending
    confirm(pendingKey, stored) {
      const follow = this.atBottom();
      const at = this.items.findIndex((m) => m.key === pendingKey);
      if (at >= 0) this.items.splice(at, 1);
      this.merge([stored]);
      if (follow) this.scrollToBottom();
    },
    // insert or update by key, keeping key order; returns the messages inserted under keys not held before
    merge(messages) {
      const items = this.items;
      const inserted = [];
      for (const m of messages) {
        // a stored message whose nonce is shown as pending (the room's emit came before the sender's answer)
        if (!m.status && m.nonce) {
          for (let i = items.length - 1; i >= 0 && items[i].status; i--) {
            if (items[i].nonce === m.nonce) {
              items.splice(i, 1);
              break;
            }
          }
        }
        let lo = 0;
        let hi = items.length;
        if (hi > 0 && items[hi - 1].key < m.key) lo = hi; // the common case: newest at the end
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (items[mid].key < m.key) lo = mid + 1;
          else hi = mid;
        }
        if (lo < items.length && items[lo].key === m.key) {
          // a stored message is replaced only by a higher version of it (a late copy never undoes a change)
          if (!items[lo].status && !m.status && (m.version || 0) <= (items[lo].version || 0)) continue;
          items[lo] = { ...items[lo], ...m, status: m.status, error: m.error };
        } else {
          items.splice(lo, 0, m);
          inserted.push(m);
        }
      }
      return inserted;
    },
    // news: messages that arrived now (not the first page a panel made by Join receives after it)
    add(messages, news = true) {
      const follow = this.atBottom();
      const inserted = this.merge(messages);
      if (news) this.arrived(inserted.filter((m) => !m.status && m.author_id !== this.me), follow);
      // while the reader is scrolled up, keep everything so their place does not move
      if (follow) {
        if (this.limit && this.items.length > this.limit) {
          this.items.splice(0, this.items.length - this.limit);
          this.hasMore = true; // what was let go comes back through Load more
        }
        this.scrollToBottom();
      }
    },
    // older messages above: the message at the top of the reader's view stays where it is. Held by that message,
    // not by the distance from the bottom: older ones of the same author make it a group's continuation, without
    // the name line, and a day's separator moves up with the day's first message
    prepend(messages) {
      const el = this.$refs.scroller;
      const top = el.getBoundingClientRect().top;
      const anchor = [...el.querySelectorAll(".sc-msg")].find((m) => m.getBoundingClientRect().top >= top);
      const key = anchor?.dataset.key;
      const y = anchor?.getBoundingClientRect().top;
      const fromBottom = el.scrollHeight - el.scrollTop;
      this.merge(messages);
      this.$nextTick(() => {
        const same = key && [...el.querySelectorAll(".sc-msg")].find((m) => m.dataset.key === key);
        if (same) el.scrollTop += same.getBoundingClientRect().top - y;
        else el.scrollTop = el.scrollHeight - fromBottom;
      });
    },
    // messages from others arrived: say so to screen readers, count them while they are out of sight, notify mentions
    arrived(fresh, follow) {
      if (!fresh.length) return;
      const newest = fresh.reduce((a, b) => (b.key > a.key ? b : a));
      this.announcement = `${newest.author}: ${newest.text}`;
      if (!follow || document.hidden) this.unseen.push(...fresh.map((m) => m.key));
      if (document.hidden) for (const m of fresh) if (this.mentionsMe(m)) this.notify(m);
    },
    mentionsMe(m) {
      return m.author_id !== this.me && !!m.text && this.mention.test(m.text);
    },
    notify(m) {
      if (notificationState() !== "granted") return;
      const text = m.text.length > NOTIFY_BODY ? m.text.slice(0, NOTIFY_BODY) + "…" : m.text;
      try {
        const shown = new Notification(this.room.name, { body: `${m.author}: ${text}`, tag: m.key });
        shown.onclick = () => {
          window.focus();
          shown.close();
        };
      } catch {
        // where pages cannot make notifications themselves (Chrome on Android): the title count says it
      }
    },
    askNotifications() {
      try {
        Promise.resolve(Notification.requestPermission()).then(() => (this.notifications = notificationState()));
      } catch {
        this.notifications = notificationState();
      }
    },
    toggleDark() {
      const dark = !this.$q.dark.isActive;
      this.$q.dark.set(dark);
      try {
        localStorage.setItem(DARK, dark ? "dark" : "light");
      } catch {
        // storage refused: the choice holds for this page only
      }
    },
    titleCount(count) {
      const title = document.title.replace(/^\(\d+\) /, "");
      document.title = count ? `(${count}) ${title}` : title;
    },
    onScroll() {
      if (this.unseen.length) this.seenIfAtBottom();
    },
    seenIfAtBottom() {
      if (this.unseen.length && !document.hidden && this.atBottom()) this.unseen = [];
    },
    // the "N new messages" button: to the first one not seen
    jump() {
      const first = this.unseen.reduce((a, b) => (b < a ? b : a));
      this.unseen = [];
      const el = [...this.$refs.scroller.querySelectorAll(".sc-msg")].find((e) => e.dataset.key === first);
      if (el) el.scrollIntoView({ block: "start" });
      else this.scrollToBottom(); // let go meanwhile (a trim): the newest are below
    },
    // the reader sent a message: it shows at the bottom, where they look
    toNewest() {
      this.unseen = [];
      const el = this.$refs.scroller;
      if (el) el.scrollTop = el.scrollHeight;
    },
    full(iso) {
      return format(FULL, new Date(iso));
    },
    // the day is in the separator above
    when(iso) {
      return format(TIME, new Date(iso));
    },
  },
};
