/* Opsdesk portal and widget frame: small enhancements of server-rendered forms.
 * Every form works without this script. It only shows and hides fields, checks files
 * before upload and adds a copy button. */
(function () {
  "use strict";

  // Show the site address and require the phone only for contact methods that need them.
  function setupContactMethods(form) {
    var phone = form.querySelector("#field-phone");
    var siteField = form.querySelector("[data-site-address]");
    var site = siteField ? siteField.querySelector("textarea, input") : null;
    var radios = form.querySelectorAll('input[name="contact_method"]');
    if (radios.length === 0) {
      return;
    }
    function update() {
      var chosen = form.querySelector('input[name="contact_method"]:checked');
      var needsPhone = Boolean(chosen && chosen.dataset.requiresPhone === "true");
      var needsSite = Boolean(chosen && chosen.dataset.requiresSiteAddress === "true");
      if (phone) {
        phone.required = needsPhone;
      }
      if (siteField && site) {
        // A disabled field is not sent, so an address typed for another method is dropped.
        siteField.hidden = !needsSite;
        site.disabled = !needsSite;
        site.required = needsSite;
      }
    }
    radios.forEach(function (radio) {
      radio.addEventListener("change", update);
    });
    update();
  }

  // Check the number and size of chosen files before the upload starts.
  function setupFiles(input) {
    var maxFiles = parseInt(input.dataset.maxFiles, 10);
    var maxBytes = parseInt(input.dataset.maxBytes, 10);
    var maxSize = input.dataset.maxSize;
    var output = document.getElementById("attachments-check");
    input.addEventListener("change", function () {
      var problems = [];
      if (input.files.length > maxFiles) {
        problems.push("Choose at most " + maxFiles + " files.");
      }
      Array.prototype.forEach.call(input.files, function (file) {
        if (file.size > maxBytes) {
          problems.push(file.name + " is larger than " + maxSize + "; choose a smaller file.");
        }
      });
      var message = problems.join(" ");
      input.setCustomValidity(message);
      if (output) {
        output.textContent = message;
        output.hidden = message === "";
      }
    });
  }

  function setupCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var target = document.getElementById(button.dataset.copy);
      var result = document.querySelector("[data-copy-result]");
      if (!target || !navigator.clipboard) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(target.value).then(
          function () {
            if (result) {
              result.textContent = "Link copied.";
            }
          },
          function () {
            target.select();
            if (result) {
              result.textContent = "Copying failed; the link is selected, so copy it by hand.";
            }
          }
        );
      });
    });
  }

  // Keep a slow upload from being sent twice by a second click.
  function preventDoubleSubmit(form) {
    var button = form.querySelector('button[type="submit"]');
    if (!button) {
      return;
    }
    var label = button.textContent;
    form.addEventListener("submit", function () {
      window.setTimeout(function () {
        button.disabled = true;
        button.textContent = "Sending…";
      }, 0);
    });
    // A page restored by the Back button must be usable again.
    window.addEventListener("pageshow", function () {
      button.disabled = false;
      button.textContent = label;
    });
  }

  document.querySelectorAll("#request-form, #reply-form").forEach(function (form) {
    setupContactMethods(form);
    preventDoubleSubmit(form);
    var files = form.querySelector('input[type="file"][data-max-files]');
    if (files) {
      setupFiles(files);
    }
  });
  setupCopyButtons();

  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
})();
