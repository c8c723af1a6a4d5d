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
    <div class="sc-composer">
      <div v-if="editing" class="sc-editing row items-center gap-2 no-wrap text-sm">
        <span>Editing message</span>
        <button type="button" class="sc-edit-cancel" @click="cancelEdit">Cancel</button>
      </div>
      <q-input
        ref="box"
        v-model="text"
        type="textarea"
        autogrow
        outlined
        dense
        hide-bottom-space
        rows="1"
        aria-label="Message"
        :placeholder="placeholder"
        :maxlength="maxlength"
        :error="error !== null"
        :error-message="error || ''"
        :hint="counter"
        @update:model-value="error = null"
        @keydown.enter.exact="onEnter"
        @keydown.esc="onEscape"
        @keydown.up.exact="onUp"
      >
        <template #after>
          <q-btn unelevated color="primary" :label="editing ? 'Save' : 'Send'" @click="send" />
        </template>
      </q-input>
    </div>`,
  props: {
    placeholder: String,
    maxlength: Number,
    limit: Number,
    room: String,
  },
  data() {
    // editing: {key, original, draft} while the box holds one of the reader's stored messages
    return { text: readDraft(this.room), error: null, editing: null };
  },
  computed: {
    // near the limit (from 90% of it), how much is left or over; characters as the server counts them (code points)
    counter() {
      if (!this.limit || this.text.length < this.limit * 0.9) return undefined;
      const left = this.limit - [...this.text].length;
      if (left < 0) return `${-left} over the limit`;
      if (left > this.limit * 0.1) return undefined; // long in UTF-16 units only
      return left === 1 ? "1 character left" : `${left} characters left`;
    },
  },
  watch: {
    text(value) {
      if (!this.editing) keepDraft(this.room, value);
    },
  },
  // in the box after joining and after opening another room; not on touch screens, where the keyboard would cover
  // half of the conversation the person came to read
  mounted() {
    if (!window.matchMedia?.("(pointer: coarse)").matches) this.$refs.box.focus();
    // the panel asks: "edit this message" (its menu's Edit, or its answer to an Up arrow here)
    this.onEdit = (event) => this.startEdit(event.detail);
    window.addEventListener("sinchchat:edit", this.onEdit);
  },
  // the box goes when the person logs out (a reload or a room's link unmounts nothing): the next person in this
  // tab starts empty, in every room
  unmounted() {
    window.removeEventListener("sinchchat:edit", this.onEdit);
    forgetDrafts();
  },
  methods: {
    onEnter(event) {
      if (event.isComposing) return; // this Enter picks a word in an input method (Japanese, Chinese, ...)
      event.preventDefault();
      this.send();
    },
    onEscape(event) {
      if (!this.editing) return;
      event.preventDefault();
      this.cancelEdit();
    },
    // Up in an empty box edits the reader's last message (the panel knows which, and answers with sinchchat:edit)
    onUp(event) {
      if (this.editing || this.text !== "") return;
      event.preventDefault();
      window.dispatchEvent(new CustomEvent("sinchchat:edit-last"));
    },
    startEdit(detail) {
      if (!detail || typeof detail.key !== "string" || typeof detail.text !== "string") return;
      const draft = this.editing ? this.editing.draft : this.text;
      this.editing = { key: detail.key, original: detail.text, draft };
      this.text = detail.text;
      this.error = null;
      this.$nextTick(() => this.$refs.box?.focus());
    },
    // back to what was typed before the edit began
    cancelEdit() {
      if (!this.editing) return;
      this.text = this.editing.draft;
      this.editing = null;
      this.error = null;
      this.$refs.box?.focus();
    },
    saveEdit() {
      const text = this.text;
      if (text === this.editing.original) return this.cancelEdit(); // unchanged: nothing to store
      if (!window.socket || !window.socket.connected) {
        this.error = "You are offline. Save the edit again once you are back online.";
        return;
      }
      this.error = null;
      this.$emit("edit", { key: this.editing.key, text });
    },
    // the server stored the edit of ``key``: edit mode ends (unless another message is being edited by now)
    editDone(key) {
      if (this.editing && this.editing.key === key) this.cancelEdit();
    },
    // the server refused the edit: edit mode stays, with the reason under the box
    editRefused(key, error) {
      if (this.editing && this.editing.key === key) this.error = error;
    },
    send() {
      if (this.editing) return this.saveEdit();
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
      this.$emit("send", { text, nonce: newNonce() });
      window.dispatchEvent(new CustomEvent("sinchchat:sent"));
      this.$refs.box.focus();
    },
    // the server refused ``text``: give it back unless something new was typed since, and say why
    refuse(text, error) {
      if (this.text === "") this.text = text;
      this.error = error;
    },
  },
};
