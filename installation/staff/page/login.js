// The log-in form, sent as JSON: the server takes no form posts (a cross-site form cannot send JSON).
"use strict";
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const body = {name: document.getElementById("name").value, password: document.getElementById("password").value};
  try {
    const response = await fetch("/login", {method: "POST", headers: {"Content-Type": "application/json"},
                                            body: JSON.stringify(body)});
    if (response.ok) { location.href = "/"; return; }
    const answer = await response.json().catch(() => ({}));
    error.textContent = answer.error || `refused (${response.status})`;
  } catch (failure) {
    error.textContent = "the kiosk does not answer";
  }
});
