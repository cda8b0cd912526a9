import Foundation

/// What a PDF printed with Chromium holds, for the tests that check Chinese is set in a CJK font.
public enum PDFFonts {
    /// The CJK fonts `scripts/install-deps` installs, or their usual alternatives.
    public static let cjk = ["WenQuanYi", "NotoSansCJK", "NotoSansSC", "SourceHanSans"]

    /// The `/FontName /ABCDEF+Name` entries of a PDF (Chromium writes them uncompressed).
    public static func names(in pdf: Data) -> [String] {
        String(decoding: pdf, as: UTF8.self).components(separatedBy: "/FontName /").dropFirst()
            .map { String($0.prefix { !$0.isWhitespace && $0 != "/" && $0 != ">" }) }
    }

    /// Whether any font of the PDF is a CJK one.
    public static func hasCJK(_ pdf: Data) -> Bool { names(in: pdf).contains { name in cjk.contains(where: name.contains) } }
}
