// microweb demo asset: served from app.js.gz when the client accepts gzip
// (curl --compressed -v http://127.0.0.1:8080/app.js), from app.js otherwise.
document.addEventListener("DOMContentLoaded", () => {
  const note = document.createElement("p");
  note.textContent = "app.js loaded (" + document.characterSet + ")";
  document.body.appendChild(note);
});
