/* Keyboard shortcuts of the review view. Every action is a plain form post, so the page
   works without this script; the script only opens panels and presses the buttons.

   a approve · r reject (1-9 picks a reason, Enter confirms) · e edit (Ctrl+Enter saves
   and approves, Esc cancels) · s skip · ? help · Esc closes what is open. */

// Set before the body renders, so the collapsible panels never flash open (see admin.css).
document.documentElement.classList.add("review-js");

(function () {
    "use strict";

    let busy = false; // a form has been sent: ignore keys until the next page
    let selectedReason = null;

    function $(selector) {
        return document.querySelector(selector);
    }

    function isTyping(target) {
        return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    }

    function submit(form, submitter) {
        if (busy || !form) return;
        busy = true;
        if (form.requestSubmit) form.requestSubmit(submitter || undefined);
        else form.submit();
    }

    function openPanel(panel, trigger) {
        closePanels();
        panel.classList.add("is-open");
        if (trigger) trigger.setAttribute("aria-expanded", "true");
    }

    function closePanels() {
        document.querySelectorAll(".review-panel.is-open").forEach(function (panel) {
            panel.classList.remove("is-open");
        });
        document.querySelectorAll("[aria-expanded]").forEach(function (el) {
            el.setAttribute("aria-expanded", "false");
        });
        selectReason(null);
        const edit = $("#edit-form");
        if (edit) edit.reset(); // cancel drops what was typed
    }

    function openPanelName() {
        const open = $(".review-panel.is-open");
        return open ? open.id : null;
    }

    function selectReason(button) {
        selectedReason = button;
        document.querySelectorAll("#reject-reasons button[data-reason]").forEach(function (b) {
            b.setAttribute("aria-pressed", b === button ? "true" : "false");
        });
    }

    function openReject() {
        const panel = $("#reject-reasons");
        openPanel(panel, $("#review-reject"));
        panel.focus(); // digits pick a reason until the reviewer clicks into the text field
    }

    function openEdit() {
        const form = $("#edit-form");
        openPanel(form, $("#review-edit"));
        const text = form.querySelector("textarea[name=text]");
        text.focus();
        text.setSelectionRange(text.value.length, text.value.length);
    }

    function toggleHelp(show) {
        const help = $("#review-help");
        help.hidden = show === undefined ? !help.hidden : !show;
    }

    function confirmReject() {
        const other = $("#reject-reason-other");
        if (other.value.trim()) submit($("#reject-reasons"));
        else if (selectedReason) submit($("#reject-reasons"), selectedReason);
        else other.placeholder = "Pick a reason with 1-9 first, or type one here";
    }

    function onRejectKey(event) {
        const inField = event.target.id === "reject-reason-other";
        if (event.key === "Enter") {
            event.preventDefault();
            confirmReject();
            return true;
        }
        if (!inField && /^[1-9]$/.test(event.key)) {
            const buttons = document.querySelectorAll("#reject-reasons button[data-reason]");
            const button = buttons[Number(event.key) - 1];
            if (button) selectReason(button);
            event.preventDefault();
            return true;
        }
        return inField; // typing a reason: leave every other key to the field
    }

    function onEditKey(event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
            event.preventDefault();
            submit($("#edit-form"), $("#edit-save-approve"));
        }
        return true; // the edit form owns the keyboard while open
    }

    function onShortcut(event) {
        const keys = {
            a: function () { submit($("#approve-form")); },
            r: openReject,
            e: openEdit,
            s: function () { busy = true; window.location.href = $("#review-skip").href; },
        };
        const action = keys[event.key.toLowerCase()];
        if (action && $("#review-item")) {
            event.preventDefault();
            action();
        }
    }

    function onKey(event) {
        if (busy) return;
        if (event.key === "Escape") {
            closePanels();
            toggleHelp(false);
            return;
        }
        const panel = openPanelName();
        if (panel === "reject-reasons" && onRejectKey(event)) return;
        if (panel === "edit-form" && onEditKey(event)) return;
        if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
        if (event.key === "?") {
            event.preventDefault();
            toggleHelp();
            return;
        }
        if (!$("#review-help").hidden) return;
        if (!panel) onShortcut(event);
    }

    function init() {
        document.addEventListener("keydown", onKey);
        const reject = $("#review-reject");
        if (reject) reject.addEventListener("click", openReject);
        const edit = $("#review-edit");
        if (edit) edit.addEventListener("click", openEdit);
        document.querySelectorAll("[data-cancel]").forEach(function (b) {
            b.addEventListener("click", closePanels);
        });
        document.querySelectorAll("[data-toggle-help]").forEach(function (b) {
            b.addEventListener("click", function (event) {
                event.preventDefault();
                toggleHelp();
            });
        });
        document.querySelectorAll("#review-item form").forEach(function (form) {
            form.addEventListener("submit", function () { busy = true; });
        });
    }

    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
    else init();
})();
