// The last node before the speakers: passes the audio through and hands every rendered
// sample (both channels) back to the page, for its level meters and for tests.
registerProcessor('phonesim-tap', class extends AudioWorkletProcessor {
  process(inputs, outputs) {
    const inp = inputs[0], out = outputs[0];
    if (inp.length) {
      for (let c = 0; c < out.length; c++) out[c].set(inp[Math.min(c, inp.length - 1)]);
      this.port.postMessage([inp[0].slice(), inp[Math.min(1, inp.length - 1)].slice()]);
    }
    return true;
  }
});
