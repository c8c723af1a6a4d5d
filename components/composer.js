// The composer: the browser owns what is typed. Enter (or Send) reads and clears the box here and sends the text
// with the event: when the server read the box and cleared it afterwards, whatever was typed during that round
// trip was wiped. The text never travels per keystroke; only a refusal comes back (refuse).

// 128 random bits as 22 base64url characters; crypto.randomUUID exists only on secure origins (https, localhost)
function newNonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

// what is typed but not sent survives a reload of the page (NiceGUI reloads a page whose server side was dropped
// while it was offline); sessionStorage: this tab only, gone with the tab; one draft per room
const DRAFT = "sinchchat:draft:";

function readDraft(room) {
  try {
    return sessionStorage.getItem(DRAFT + room) || "";
  } catch {
    return ""; // storage refused (privacy settings): no draft
  }
}

function keepDraft(room, text) {
  try {
    if (text) sessionStorage.setItem(DRAFT + room, text);
    else sessionStorage.removeItem(DRAFT + room);
  } catch {
    // storage refused or full: the text is still in the box
  }
}

function forgetDrafts() {
  try {
    for (const key of Object.keys(sessionStorage)) if (key.startsWith(DRAFT)) sessionStorage.removeItem(key);
  } catch {
    // storage refused: nothing was kept
  }
}

// hide-bottom-space: the reason for a refusal takes a line under the box only while it is shown, pushing the box up;
// the space Quasar keeps for it otherwise is lost to the page's own padding, and the line fell off the window
export default {
  template: `
    <q-input
      ref="box"
      v-model="text"
      type="textarea"
      autogrow
      outlined
      dense
      hide-bottom-space
      rows="1"
      class="sc-composer"
      aria-label="Message"
      :placeholder="placeholder"
      :maxlength="maxlength"
      :error="error !== null"
      :error-message="error || ''"
      @update:model-value="error = null"
      @keydown="onKeys"
      @keydown.enter.exact="onEnter"
      @blur="closeMention"
      aria-autocomplete="list"
      :aria-expanded="mentionOpen ? 'true' : 'false'"
      :aria-controls="mentionOpen ? 'sc-mentions' : null"
      :aria-activedescendant="mentionOpen ? 'sc-mention-' + mentionIndex : null"
    >
      <template #after>
        <ul v-if="mentionOpen" id="sc-mentions" role="listbox" aria-label="People online" class="sc-mentions">
          <li
            v-for="(p, i) in mentionMatches"
            :id="'sc-mention-' + i"
            :key="p[0]"
            role="option"
            :aria-selected="i === mentionIndex ? 'true' : 'false'"
            class="sc-mention"
            @mousedown.prevent="pickMention(p)"
          >{{ p[1] }}</li>
        </ul>
        <q-btn unelevated color="primary" label="Send" @click="send" />
      </template>
    </q-input>`,
  props: {
    placeholder: String,
    maxlength: Number,
    room: String,
    me: String,
  },
  data() {
    // online: the room's people, from the panel ([author_id, name] each); mention: the "@..." being typed
    return { text: readDraft(this.room), error: null, online: [], mention: null, mentionIndex: 0 };
  },
  computed: {
    mentionMatches() {
      if (this.mention === null) return [];
      const query = this.mention.query.toLocaleLowerCase();
      return this.online
        .filter((p) => p[0] !== this.me && p[1].toLocaleLowerCase().startsWith(query))
        .slice(0, 8);
    },
    mentionOpen() {
      return this.mentionMatches.length > 0;
    },
  },
  watch: {
    text(value) {
      keepDraft(this.room, value);
      this.$nextTick(() => this.findMention());
    },
  },
  mounted() {
    this.onOnline = (event) => {
      if (Array.isArray(event.detail)) this.online = event.detail;
    };
    window.addEventListener("sinchchat:online", this.onOnline);
  },
  // the box goes when the person logs out (a reload or a room's link unmounts nothing): the next person in this
  // tab starts empty, in every room
  unmounted() {
    forgetDrafts();
    window.removeEventListener("sinchchat:online", this.onOnline);
  },
  methods: {
    // the @ suggestions take the arrows, Enter, Tab and Escape while open; a key that types says "typing"
    onKeys(event) {
      if (this.mentionOpen && !event.isComposing) {
        const n = this.mentionMatches.length;
        const moves = { ArrowDown: 1, ArrowUp: n - 1 };
        if (event.key in moves) {
          this.mentionIndex = (this.mentionIndex + moves[event.key]) % n;
        } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey) {
          this.pickMention(this.mentionMatches[this.mentionIndex]);
        } else if (event.key === "Escape") {
          this.mention = null;
        }
        if (event.key in moves || ["Enter", "Tab", "Escape"].includes(event.key)) {
          event.preventDefault();
          event.stopPropagation();
          return;
        }
      }
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key.length === 1 || event.key === "Backspace" || event.key === "Delete") this.typed();
    },
    // at most one typing event every 3 s while the person types (the server drops any more)
    typed() {
      const now = Date.now();
      if (now - (this.typedAt || 0) < 3000) return;
      this.typedAt = now;
      this.$emit("typing");
    },
    box() {
      return this.$refs.box?.getNativeElement?.() || null;
    },
    // an "@" at the caret, after a space or at the start, and what follows it up to the caret
    findMention() {
      const el = this.box();
      const caret = el && el === document.activeElement ? el.selectionStart : null;
      const match = caret === null ? null : /(^|\s)@([^\s@]{0,32})$/.exec(this.text.slice(0, caret));
      const query = match ? match[2] : null;
      if (query === null) this.mention = null;
      else if (!this.mention || this.mention.query !== query) {
        this.mention = { start: caret - query.length - 1, end: caret, query };
        this.mentionIndex = 0;
      } else this.mention.end = caret;
    },
    closeMention() {
      this.mention = null;
    },
    pickMention(person) {
      if (!person || this.mention === null) return;
      const { start, end } = this.mention;
      const inserted = "@" + person[1] + " ";
      this.text = this.text.slice(0, start) + inserted + this.text.slice(end);
      this.mention = null;
      const caret = start + inserted.length;
      this.$nextTick(() => {
        const el = this.box();
        if (el) {
          el.focus();
          el.setSelectionRange(caret, caret);
        }
        this.mention = null;
      });
    },
    onEnter(event) {
      if (event.isComposing) return; // this Enter picks a word in an input method (Japanese, Chinese, ...)
      if (event.defaultPrevented) return; // this Enter picked an @ suggestion
      event.preventDefault();
      this.send();
    },
    send() {
      const text = this.text;
      if (!text.trim()) return;
      // sent while the socket is down, the event could be lost with the page: the text stays until it can go
      if (!window.socket || !window.socket.connected) {
        this.error = "You are offline. Your message stays here: send it again once you are back online.";
        return;
      }
      // cleared in the same task as the read: the next keystroke's input event lands in an empty box
      this.text = "";
      this.error = null;
      this.typedAt = 0; // the next message's first keystroke says "typing" again
      this.$emit("send", { text, nonce: newNonce() });
      this.$refs.box.focus();
    },
    // the server refused ``text``: give it back unless something new was typed since, and say why
    refuse(text, error) {
      if (this.text === "") this.text = text;
      this.error = error;
    },
  },
};
