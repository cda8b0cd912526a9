#if canImport(Glibc)
import Glibc
#endif

public enum Environment {
    public static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
