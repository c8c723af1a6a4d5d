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
      :hint="counter"
      @update:model-value="error = null"
      @keydown.enter.exact="onEnter"
    >
      <template #after>
        <q-btn unelevated color="primary" label="Send" @click="send" />
      </template>
    </q-input>`,
  props: {
    placeholder: String,
    maxlength: Number,
    limit: Number,
    room: String,
  },
  data() {
    return { text: readDraft(this.room), error: null };
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
      keepDraft(this.room, value);
    },
  },
  // in the box after joining and after opening another room; not on touch screens, where the keyboard would cover
  // half of the conversation the person came to read
  mounted() {
    if (!window.matchMedia?.("(pointer: coarse)").matches) this.$refs.box.focus();
  },
  // the box goes when the person logs out (a reload or a room's link unmounts nothing): the next person in this
  // tab starts empty, in every room
  unmounted() {
    forgetDrafts();
  },
  methods: {
    onEnter(event) {
      if (event.isComposing) return; // this Enter picks a word in an input method (Japanese, Chinese, ...)
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
