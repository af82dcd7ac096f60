// The live board: rows from the server-sent events, durations ticking, listen and cut off.
'use strict';
(() => {
  const $ = id => document.getElementById(id);
  const table = $('board'), body = table.querySelector('tbody');
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const mayListen = table.dataset.listen === 'yes', mayCutOff = table.dataset.cutOff === 'yes';
  const rows = new Map();          // terminal -> {data, tr}
  let offsetS = 0;                  // server clock - this clock
  const nowS = () => Date.now() / 1000 + offsetS;

  function money(cents) { return '$' + (cents / 100).toFixed(2); }
  function clock(s) {
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    return (h ? h + ':' + String(m).padStart(2, '0') : m) + ':' + String(sec).padStart(2, '0');
  }
  function phone(n) { return /^\d{10}$/.test(n) ? `${n.slice(0, 3)}-${n.slice(3, 6)}-${n.slice(6)}` : n; }
  function duration(d) {
    if (d.connected_at_s == null) return '';
    return clock((d.ended_at_s || nowS()) - d.connected_at_s);
  }
  function cell(tr, i, text) { tr.cells[i].textContent = text; }

  function button(label, cls, onclick) {
    const b = document.createElement('button');
    b.type = 'button'; b.textContent = label; b.className = cls; b.onclick = onclick; return b;
  }

  function draw(d) {
    let entry = rows.get(d.terminal);
    if (!entry) {
      const tr = document.createElement('tr');
      for (let i = 0; i < 13; i++) tr.insertCell();
      tr.dataset.terminal = d.terminal;
      [7, 8, 9].forEach(i => tr.cells[i].className = 'num');
      entry = {tr};
      rows.set(d.terminal, entry);
      const names = [...rows.keys()].sort();
      body.insertBefore(tr, body.children[names.indexOf(d.terminal)] || null);
    }
    entry.data = d;
    const tr = entry.tr;
    tr.className = d.in_call ? 'in-call phase-' + d.phase : 'idle';
    tr.dataset.call = d.call_id == null ? '' : d.call_id;
    if (d.threeway) tr.classList.add('threeway');
    if (d.privileged) tr.classList.add('privileged');
    cell(tr, 0, d.terminal); cell(tr, 1, d.unit); cell(tr, 2, d.status); cell(tr, 3, d.phase);
    cell(tr, 4, d.inmate); cell(tr, 5, d.privileged ? 'privileged' : phone(d.number)); cell(tr, 6, d.call_type);
    cell(tr, 7, duration(d)); cell(tr, 8, d.in_call || d.cents ? money(d.cents) : '');
    cell(tr, 9, d.warnings ? String(d.warnings) : ''); cell(tr, 10, d.threeway);
    cell(tr, 11, d.in_call ? '' : d.disposition);
    const actions = tr.cells[12];
    actions.replaceChildren();
    if (mayListen && d.listenable && listening?.terminal !== d.terminal)
      actions.append(button('Listen', 'listen', () => listen(d.terminal)));
    if (mayCutOff && d.in_call) actions.append(button('Cut off', 'cut-off danger', () => askCutOff(d.terminal)));
  }

  setInterval(() => rows.forEach(e => cell(e.tr, 7, duration(e.data))), 1000);

  const events = new EventSource('/board/events');
  const state = $('stream-state');
  events.addEventListener('snapshot', e => {
    const m = JSON.parse(e.data); offsetS = m.now_s - Date.now() / 1000;
    m.rows.forEach(draw); state.textContent = 'live'; table.dataset.ready = 'yes';
  });
  events.addEventListener('row', e => { const m = JSON.parse(e.data); offsetS = m.now_s - Date.now() / 1000; draw(m.row); });
  events.addEventListener('ping', e => { offsetS = JSON.parse(e.data).now_s - Date.now() / 1000; });
  events.addEventListener('expired', () => { events.close(); state.textContent = 'session expired: sign in again'; });
  events.onerror = () => { state.textContent = 'reconnecting…'; };
  events.onopen = () => { state.textContent = 'live'; };

  // --- listening: the call's two channels, 8 kHz int16, into Web Audio --------------------
  const KEEP = 8000 * 300;                  // samples kept per channel for the meters and tests
  let listening = null;
  window.phonesimListen = {
    state: 'idle', terminal: '', callId: null, refused: '', ended: '',
    received: [[], []], rendered: [[], []], receivedCount: 0, renderedCount: 0,
    samples(which, ch) { return [].concat(...this[which][ch].map(a => Array.from(a))); },
  };
  const L = window.phonesimListen;

  function keep(list, chunk) {
    list.push(chunk);
    let total = list.reduce((n, a) => n + a.length, 0);
    while (total > KEEP && list.length > 1) total -= list.shift().length;
  }
  function rms(a) { let s = 0; for (const v of a) s += v * v; return Math.sqrt(s / Math.max(1, a.length)); }

  async function listen(terminal) {
    if (listening) stopListening();
    const ctx = new AudioContext({sampleRate: 8000});
    const session = listening = {terminal, ctx, ws: null, next: 0};
    Object.assign(L, {state: 'connecting', terminal, callId: null, refused: '', ended: '',
                      received: [[], []], rendered: [[], []], receivedCount: 0, renderedCount: 0});
    $('listener').hidden = false; $('listen-terminal').textContent = terminal; $('listen-state').textContent = 'connecting…';
    rows.forEach(e => draw(e.data));
    await ctx.audioWorklet.addModule('/static/tap-worklet.js');
    const tap = new AudioWorkletNode(ctx, 'phonesim-tap', {channelCount: 2, channelCountMode: 'explicit',
                                                             outputChannelCount: [2]});
    tap.port.onmessage = e => {
      if (listening !== session) return;
      const [a, b] = e.data.map(ch => Int16Array.from(ch, v => Math.round(v * 32768)));
      keep(L.rendered[0], a); keep(L.rendered[1], b); L.renderedCount += a.length;
      $('meter-inmate').value = Math.min(1, rms(a) / 8000); $('meter-heard').value = Math.min(1, rms(b) / 8000);
    };
    tap.connect(ctx.destination);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = session.ws = new WebSocket(`${scheme}://${location.host}/ws/listen/${encodeURIComponent(terminal)}?csrf=${encodeURIComponent(csrf)}`);
    ws.binaryType = 'arraybuffer';
    ws.onmessage = ev => {
      if (listening !== session) return;
      if (typeof ev.data === 'string') {
        const m = JSON.parse(ev.data);
        if (m.listening) { L.state = 'listening'; L.callId = m.call_id; $('listen-state').textContent = `call ${m.call_id}: live`; }
        if (m.waiting) { L.state = 'waiting'; $('listen-state').textContent = m.waiting; }
        if (m.ended) { L.state = 'ended'; L.ended = m.ended; $('listen-state').textContent = 'ended: ' + m.ended; }
        if (m.refused) { L.state = 'refused'; L.refused = m.refused; $('listen-state').textContent = 'refused: ' + m.refused; }
        return;
      }
      const pcm = new Int16Array(ev.data), n = pcm.length / 2;
      const inmate = new Int16Array(n), heard = new Int16Array(n);
      for (let i = 0; i < n; i++) { inmate[i] = pcm[2 * i]; heard[i] = pcm[2 * i + 1]; }
      keep(L.received[0], inmate); keep(L.received[1], heard); L.receivedCount += n;
      const buf = ctx.createBuffer(2, n, 8000);
      buf.getChannelData(0).set(Float32Array.from(inmate, v => v / 32768));
      buf.getChannelData(1).set(Float32Array.from(heard, v => v / 32768));
      const src = ctx.createBufferSource(); src.buffer = buf; src.connect(tap);
      // a 150 ms jitter buffer; a late packet starts a new run rather than overlapping
      session.next = Math.max(session.next, Math.ceil(ctx.currentTime * 8000) + 1200);
      src.start(session.next / 8000); session.next += n;
    };
    ws.onclose = () => { if (listening === session && L.state !== 'refused' && L.state !== 'ended') { L.state = 'closed'; } };
  }

  function stopListening() {
    const s = listening; listening = null;
    if (!s) return;
    if (s.ws) s.ws.close();
    s.ctx.close();
    $('listener').hidden = true; L.state = 'stopped';
    rows.forEach(e => draw(e.data));
  }
  $('listen-stop').onclick = stopListening;

  // --- cutting a call off ------------------------------------------------------------------
  const dialog = $('cut-off-dialog');
  let cutTerminal = '';
  function askCutOff(terminal) {
    cutTerminal = terminal; $('cut-off-terminal').textContent = terminal; $('cut-off-reason').value = '';
    dialog.showModal();
  }
  $('cut-off-cancel').onclick = () => dialog.close();
  $('cut-off-form').addEventListener('submit', async e => {
    e.preventDefault();
    const reason = $('cut-off-reason').value.trim();
    if (!reason) return;
    dialog.close();
    const r = await fetch(`/lines/${encodeURIComponent(cutTerminal)}/cut-off`, {
      method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
      body: JSON.stringify({reason}), credentials: 'same-origin'});
    const m = await r.json().catch(() => ({}));
    state.textContent = r.ok ? `cut-off of ${cutTerminal} sent` : `cut-off refused: ${m.error || r.status}`;
    state.dataset.cutOff = r.ok ? 'sent' : 'refused';
  });
})();
