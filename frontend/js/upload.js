// CSV upload: one drop zone that is also the file picker (the native input is visually hidden, still
// focusable). The server checks the file; its error is shown next to the control (naming the line),
// and the page keeps its current data. The note after an upload says whether training is on.
import { uploadCsv } from './api.js';

export class Upload {
  /** running(): whether the run trains now (the note says so, or says to press Play). */
  constructor({ zone, input, info, error, onUploaded, onFailed, running = () => false }) {
    Object.assign(this, { zone, input, info, error, onUploaded, onFailed, running });
    input.addEventListener('change', () => {
      if (input.files && input.files[0]) this.send(input.files[0]);
    });
    zone.addEventListener('dragover', event => { event.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', event => {
      event.preventDefault();
      zone.classList.remove('over');
      const file = event.dataTransfer && event.dataTransfer.files && event.dataTransfer.files[0];
      if (file) this.send(file);
    });
    // a file dropped anywhere on the page is uploaded too (and never opened by the browser instead)
    window.addEventListener('dragover', event => event.preventDefault());
    window.addEventListener('drop', event => {
      event.preventDefault();
      const file = event.dataTransfer && event.dataTransfer.files && event.dataTransfer.files[0];
      if (file && !zone.contains(event.target)) this.send(file);
    });
  }

  async send(file) {
    this.error.hidden = true;
    this.error.textContent = '';
    this.info.textContent = `uploading ${file.name}…`;
    try {
      const text = await file.text();
      const result = await uploadCsv(text);
      const running = this.running();
      this.onUploaded({ ...result, name: file.name });
      this.info.textContent = `${file.name}: ${result.rows} rows, ${result.dim}-D — `
        + (running ? 'training on it now.' : 'loaded as the data; press Play to train on it.');
    } catch (err) {
      this.info.textContent = '';
      this.error.textContent = `${file.name} was not accepted: ${err.message}`;
      this.error.hidden = false;
      this.error.scrollIntoView({ block: 'nearest' });
      if (this.onFailed) this.onFailed(this.error.textContent);
    } finally {
      this.input.value = '';
    }
  }
}
