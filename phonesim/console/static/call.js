// A call's recording: both channels' waveform with the timeline's markers; click to play from there.
'use strict';
(async () => {
  const wave = document.getElementById('wave'), canvas = document.getElementById('wave-canvas');
  const player = document.getElementById('player'), list = document.getElementById('markers');
  const colors = {digit: '#1f5fbf', warning: '#b26a00', charge: '#1e7a3c', 'three-way': '#b3261e',
                  'cut-off': '#6a1b9a', lockdown: '#6a1b9a', accepted: '#7a8799'};
  const r = await fetch(`/calls/${wave.dataset.call}/waveform.json`, {credentials: 'same-origin'});
  if (!r.ok) { wave.dataset.state = 'error'; return; }
  const data = await r.json();
  window.phonesimWave = data;
  const ctx = canvas.getContext('2d'), W = canvas.width, H = canvas.height, half = H / 2;
  const x = t => (t / Math.max(data.duration_s, 0.001)) * W;

  function draw() {
    ctx.clearRect(0, 0, W, H);
    data.channels.slice(0, 2).forEach((peaks, c) => {
      const mid = half * c + half / 2, amp = half / 2 - 4;
      ctx.fillStyle = c ? '#5b7fb5' : '#3a4a63';
      peaks.forEach(([lo, hi], i) => {
        const px = i * W / peaks.length;
        ctx.fillRect(px, mid - hi * amp, Math.max(1, W / peaks.length), Math.max(1, (hi - lo) * amp));
      });
    });
    ctx.fillStyle = '#d6dbe3'; ctx.fillRect(0, half, W, 1);
    data.markers.forEach(m => { ctx.fillStyle = colors[m.kind] || '#000'; ctx.fillRect(x(m.t_s), 0, 2, H); });
    ctx.fillStyle = '#000'; ctx.fillRect(x(player.currentTime || 0), 0, 1, H);
  }

  function seek(t) {
    player.currentTime = Math.max(0, Math.min(t, data.duration_s));
    player.play().catch(() => {});
    draw();
  }
  canvas.addEventListener('click', e => {
    const rect = canvas.getBoundingClientRect();
    seek((e.clientX - rect.left) / rect.width * data.duration_s);
  });
  data.markers.forEach(m => {
    const b = document.createElement('button');
    b.type = 'button'; b.className = 'marker k-' + m.kind; b.dataset.kind = m.kind; b.dataset.t = m.t_s;
    b.textContent = `${m.t_s.toFixed(1)} s ${m.label}`;
    b.onclick = () => seek(m.t_s);
    list.append(b, ' ');
  });
  player.addEventListener('timeupdate', draw);
  player.addEventListener('seeked', draw);
  draw();
  wave.dataset.state = 'ready';
})();
