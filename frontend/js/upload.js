// CSV upload: a file picker and a drop zone. The server checks the file; its error is shown next to
// the control (naming the line), and the page keeps its current data.
import { uploadCsv } from './api.js';

export class Upload {
  constructor({ zone, input, info, error, onUploaded, onFailed }) {
    Object.assign(this, { zone, input, info, error, onUploaded, onFailed });
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
      this.info.textContent = `${file.name}: ${result.rows} rows, ${result.dim}-D — training on it now.`;
      this.onUploaded({ ...result, name: file.name });
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
