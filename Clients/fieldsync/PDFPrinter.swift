import Foundation

/// Prints a document's HTML to an A4 PDF with a headless Chromium (Debian's `chromium`),
/// the well-kept renderer that lays out CJK text with the system's fonts
/// (`scripts/install-deps` installs WenQuanYi Zen Hei). The page is the document's own
/// self-contained HTML: no script, no external file.
struct PDFPrinter {
    /// `$FIELDSYNC_CHROMIUM`, else the usual places.
    static func browser(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let chosen = environment["FIELDSYNC_CHROMIUM"], !chosen.isEmpty { return FileManager.default.isExecutableFile(atPath: chosen) ? chosen : nil }
        return ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/chromium-headless-shell"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A browser that does not finish in this time is stopped.
    static let timeoutSeconds = 120.0

    static func print(html: String, to output: String) throws {
        guard let browser = browser() else {
            throw InputError(t("cli.pdf.no-browser"))
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fieldsync-pdf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: work) }
        let page = work.appendingPathComponent("document.html"), pdf = work.appendingPathComponent("document.pdf")
        try Data(html.utf8).write(to: page)
        let process = Process()
        // Its own session (setsid), so a timeout stops the browser's helpers with it.
        let setsid = "/usr/bin/setsid"
        let grouped = FileManager.default.isExecutableFile(atPath: setsid)
        process.executableURL = URL(fileURLWithPath: grouped ? setsid : browser)
        // Chromium refuses to start as root with its sandbox: only then is it off (the page is our own, without scripts).
        let sandbox = geteuid() == 0 ? ["--no-sandbox"] : []
        // --wait: should setsid have to fork (it was started as a group leader), it still waits for the browser.
        process.arguments = (grouped ? ["--wait", browser] : []) + ["--headless"] + sandbox + [
            "--disable-gpu", "--no-first-run", "--no-pdf-header-footer", "--disable-extensions", "--disable-background-networking",
            "--user-data-dir=\(work.appendingPathComponent("profile").path)", "--print-to-pdf=\(pdf.path)", page.absoluteString,
        ]
        // Error output to a file, not a pipe: a browser's helper left running must not hold the command up.
        let log = work.appendingPathComponent("chromium.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: log)
        defer { try? logHandle.close() }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = logHandle
        try process.run()
        let pid = process.processIdentifier
        let stop = DispatchWorkItem {
            if grouped { kill(-pid, SIGKILL) }
            kill(pid, SIGKILL)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds, execute: stop)
        process.waitUntilExit()
        stop.cancel()
        if process.terminationReason == .uncaughtSignal {
            throw InputError(t("cli.pdf.stopped", ["browser": browser, "seconds": String(Int(timeoutSeconds))]))
        }
        guard let bytes = try? Data(contentsOf: pdf), bytes.starts(with: Array("%PDF".utf8)) else {
            let detail = String(decoding: ((try? Data(contentsOf: log)) ?? Data()).suffix(400), as: UTF8.self).split(separator: "\n").filter { !$0.contains("dbus") }.last ?? ""
            throw InputError(t("cli.pdf.failed", ["browser": browser, "status": String(process.terminationStatus)]) + (detail.isEmpty ? "" : t("punctuation.colon") + detail))
        }
        do {
            try bytes.write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            throw InputError(t("cli.error.cannot-write", ["file": output, "error": error.localizedDescription]))
        }
    }
}
