import FieldSyncTestSupport
import Foundation
import Testing

/// The command line in Chinese and in English, chosen as a person would: `LANG`, then `--lang`.
@Suite struct LanguageCLITests {
    let folder: TemporaryFolder
    let english: CommandRunner
    let chinese: CommandRunner

    init() throws {
        folder = try TemporaryFolder()
        english = try CommandRunner(product: "fieldsync", environment: ["FIELDSYNC_HOME": folder.path("home"), "FIELDSYNC_NOW": "2026-11-23T10:00:00+08:00"])
        var chinese = english
        chinese.environment["LANG"] = "zh_CN.UTF-8"
        self.chinese = chinese
    }

    @discardableResult
    func ok(_ runner: CommandRunner, _ arguments: String...) throws -> String {
        let result = try runner.run(arguments)
        #expect(result.status == 0, "\(arguments.joined(separator: " ")) failed: \(result.stderr)")
        return result.stdout
    }

    /// Screens compared with reviewed text, ids and paths masked.
    @Test func screensReadInTheLanguageOfTheLocaleOrOfLang() throws {
        let home = folder.path("home")
        #expect(try ok(chinese, "init", "--branch", "杭州", "--user", "王芳") == "已在 \(home) 创建本地副本（节点 NODE）。\n现在即可离线记录工作；之后在服务器登记本设备即可同步。\n"
            .replacingOccurrences(of: "NODE", with: try Self.node(of: english, home: home)))
        let customer = try ok(chinese, "customer", "add", "--name", "西湖铁塔", "--level", "vip", "--since", "2026-11-01").trimmingCharacters(in: .whitespacesAndNewlines)
        try ok(chinese, "agreement", "add", customer, "--number", "HZ-7", "--start", "2026-01-01", "--end", "2027-01-31")
        let shown = try ok(chinese, "customer", "show", customer).replacingOccurrences(of: customer, with: "ID")
            .replacingOccurrences(of: String(customer.prefix(8)), with: "SHORT")
        let agreementID = shown.split(separator: "\n").first { $0.hasPrefix("HZ") || $0.contains("HZ-7") }.map { String($0.prefix(8)) } ?? ""
        #expect(shown.replacingOccurrences(of: agreementID, with: "AGREEMNT") == """
            客户档案 ID
              客户名称：西湖铁塔
              所属分公司：杭州
              服务等级：VIP服务
              客户经理：王芳
              建档日期：2026年11月1日

            通讯录
              无

            单项服务协议
            编号      协议编号  服务期起      服务期止
            AGREEMNT  HZ-7      2026年1月1日  2027年1月31日

            拜访：0   故障申告：0   投诉：0   未结案件：0

            """, "\(shown)")
        let status = try ok(chinese, "status").replacingOccurrences(of: home, with: "HOME")
        for line in ["本地副本：HOME", "设备：    尚未登记，节点 ", "用户：    王芳", "分公司：  杭州", "待同步：  2项操作（", "冲突：    0项未解决",
                     "服务器：  尚未登记（fieldsync enroll URL --code CODE --ca FILE）", "上次同步：从未同步"] {
            #expect(status.contains(line), "\(line) in \(status)")
        }
        // --lang anywhere overrides the locale; English stays as it was.
        let englishStatus = try ok(chinese, "status", "--lang", "en")
        #expect(englishStatus.contains("Outbox:    2 actions (") && englishStatus.contains("Last sync: never"))
        #expect(try ok(english, "--lang=zh", "customer", "list").contains("西湖铁塔  VIP服务"))
        #expect(try ok(english, "customer", "list").contains("ID        NAME      LEVEL"))
        #expect(try ok(english, "customer", "edit", customer, "--note", "x") == "Updated customer file \(customer.prefix(8)).\n")
        #expect(try ok(chinese, "customer", "edit", customer, "--note", "y") == "已更新客户档案 \(customer.prefix(8))。\n")
        // A fault's life in Chinese: its list, its state after each step, its details.
        let fault = try ok(chinese, "fault", "report", customer, "--symptom", "基站断电", "--reported-at", "2026-11-23T09:00+08:00").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try ok(chinese, "fault", "feedback", fault, "--at", "2026-11-23T09:20+08:00") == "故障申告 \(fault.prefix(8))：处理中\n")
        #expect(try ok(chinese, "fault", "feedback", fault, "--at", "2026-11-23T09:40+08:00").contains("首次反馈时间仍为2026年11月23日 09:20（以最早的为准）。"))
        let faults = try ok(chinese, "fault", "list")
        #expect(faults.contains("编号      申告时间          客户      状态    首次反馈          恢复时间  故障现象"), "\(faults)")
        #expect(faults.contains("西湖铁塔  处理中  2026-11-23 09:20"))
        let details = try ok(chinese, "fault", "show", fault)
        for line in ["故障申告 \(fault)", "  故障现象：基站断电", "  申告时间：2026年11月23日 09:00", "  处理状态：处理中", "  客户名称：西湖铁塔（VIP服务）", "处理记录"] {
            #expect(details.contains(line), "\(line) in \(details)")
        }
        #expect(try ok(english, "fault", "list", "--open").contains("ID        REPORTED          CUSTOMER  STATUS       FIRST FEEDBACK    RESTORED  SYMPTOM"))

        // Errors keep their one line, in the language chosen; a bad --lang is a malformed option.
        let missing = try chinese.run(["customer", "show", "abcdef12"])
        #expect(missing.status == 66 && missing.stderr == "错误：没有编号以“abcdef12”开头的客户档案；可用 fieldsync customer list 列出\n", "\(missing.stderr)")
        #expect(try english.run(["customer", "show", "abcdef12"]).stderr
                == "error: no customer file with an id starting 'abcdef12'; list them with 'fieldsync customer list'\n")
        #expect(try chinese.run(["fault", "show", "zz!"]).stderr.contains("“zz!”不是有效的记录编号"))
        // A refused value or step names the field, the state and the times in the reader's words.
        let notRestored = try chinese.run(["fault", "close", fault])
        #expect(notRestored.status == 65 && notRestored.stderr == "错误：此故障申告的状态还不是“已恢复”；请先运行 fieldsync fault restore\n", "\(notRestored.stderr)")
        let early = try chinese.run(["fault", "edit", fault, "--occurred-at", "2026-11-23T09:30+08:00"])
        #expect(early.stderr == "错误：申告时间（reported_at，2026年11月23日 09:00）早于故障发生时间（occurred_at，2026年11月23日 09:30）：故障申告的申告时间不能早于故障发生时间\n",
                "\(early.stderr)")
        #expect(try chinese.run(["custmer"]).stderr.hasPrefix("错误：“custmer”不是 fieldsync 的命令；您是指 fieldsync customer 吗？"))
        #expect(try ok(chinese, "verify") == "正常\n")
        // ArgumentParser's words about what was typed, in Chinese too; English as ArgumentParser writes them.
        #expect(try chinese.run(["fault", "report"]).stderr == "错误：缺少参数 <customer>（参见 fieldsync fault report --help）\n")
        #expect(try chinese.run(["customer", "add", "--name", "x", "--level", "gold"]).stderr.hasPrefix("错误：--level <level> 不接受“gold”：可选值为 'vip', 'standard'"))
        #expect(try english.run(["fault", "report"]).stderr == "error: Missing expected argument '<customer>' (see 'fieldsync fault report --help')\n")
        let bad = try english.run(["status", "--lang", "fr"])
        #expect(bad.status == 64 && bad.stderr == "error: --lang: 'fr' is not a language FieldSync speaks (en, zh (zh-CN, zh-Hans))\n", "\(bad.stderr)")
        #expect(try english.run(["status", "--lang"]).stderr.contains("--lang needs a value"))
        // Help follows the language too; --json never changes.
        #expect(try ok(chinese, "--help").contains("在离线可用的本地副本中管理客户档案"))
        // ArgumentParser's own words too: its headings, -h, defaults and choices.
        let kpiHelp = try ok(chinese, "kpi", "--help")
        for words in ["概述：根据本地副本", "用法：fieldsync kpi", "选项：", "显示帮助信息。", "子命令：", "  summary（默认）         各项指标"] {
            #expect(kpiHelp.contains(words), "\(words) in \(kpiHelp)")
        }
        #expect(try ok(chinese, "customer", "add", "--help").contains("。（可选值：vip, standard；默认：standard）"))
        let englishHelp = try ok(english, "kpi", "--help")
        #expect(englishHelp.contains("USAGE: fieldsync kpi") && englishHelp.contains("Show help information.") && englishHelp.contains("summary (default)"))
        #expect(try ok(chinese, "customer", "show", customer, "--json") == (try ok(english, "customer", "show", customer, "--json")))
    }

    static func node(of runner: CommandRunner, home: String) throws -> String {
        let json = try runner.run(["status", "--json"]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return object?["node"] as? String ?? ""
    }
}
