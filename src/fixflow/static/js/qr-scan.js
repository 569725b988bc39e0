// «Сканировать QR»: reads a QR code with the camera where the browser has BarcodeDetector, puts the
// text into the code field and submits it (the server accepts the bare code or the /q/<token> link).
// Without BarcodeDetector the camera button stays hidden and the code is typed or the link opened.

const button = document.querySelector("[data-testid=qr-camera]");
const dialog = document.getElementById("qr-dialog");
const input = document.getElementById("qr");

function showError(message) {
  let note = document.getElementById("qr-camera-error");
  if (!note) {
    note = document.createElement("p");
    note.id = "qr-camera-error";
    note.className = "field-error";
    note.setAttribute("role", "alert");
    input.form.after(note);
  }
  note.textContent = message;
}

async function scan() {
  const video = dialog.querySelector("video");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch {
    showError(button.dataset.msgError);
    return;
  }
  let active = true;
  dialog.addEventListener(
    "close",
    () => {
      active = false;
      stream.getTracks().forEach((track) => track.stop());
      video.srcObject = null;
    },
    { once: true },
  );
  video.srcObject = stream;
  dialog.showModal();
  try {
    await video.play();
  } catch {
    /* autoplay refused: frames still arrive once the user taps the video */
  }
  // eslint-disable-next-line no-undef
  const detector = new BarcodeDetector({ formats: ["qr_code"] });
  const tick = async () => {
    if (!active) return;
    try {
      const codes = video.readyState >= 2 ? await detector.detect(video) : [];
      if (codes.length && codes[0].rawValue) {
        input.value = codes[0].rawValue;
        dialog.close();
        input.form.requestSubmit();
        return;
      }
    } catch {
      /* a frame that could not be read: try the next one */
    }
    setTimeout(tick, 200);
  };
  tick();
}

async function init() {
  if (!button || !dialog || !input || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  try {
    // eslint-disable-next-line no-undef
    const formats = await BarcodeDetector.getSupportedFormats();
    if (!formats.includes("qr_code")) return;
  } catch {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", scan);
}

init();
