// admin.users_file: "user:crypt(3) hash" lines, errors with the users file's own line and
// the position of the key in the configuration.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config_test_util.hpp"

namespace clb::config::test {
namespace {

using Errors = std::vector<std::string>;

// What mkpasswd (package whois) wrote for the password "s3cret pass".
constexpr std::string_view kYescrypt =
    "$y$j9T$PvRheUyuxhJxvTITlTOao0$3dPoUJjOzACiizJpH0uauE.1aZHz2gX3vYFTjA93J2B";
constexpr std::string_view kSha512 =
    "$6$6.CbtpzTi1PmSHGx$TvRz3CGEro0SAGhCkazu8zmXOH.5OR7q0S3G.XtG4ceNRG7aBLV3QvOeJdecNKLd8byqT7"
    "WXj8R9n0GmOey270";
constexpr std::string_view kSha256 =
    "$5$4klYH0CZnHzKyIfK$WLJ1Uv.BnLUb41g7hqlOKlNRb7XuyVGGykvUxFdyKE8";
constexpr std::string_view kBcrypt = "$2b$05$eR.VNqwLOgFeHyyjTI2dduHQMWAi4T.IO3AkTv8IuMMRTC9BzR.MO";
constexpr std::string_view kMd5 = "$1$6qOX7JK/$kOKpdXwRSrmu58Bbh0c4y1";

class UsersFile : public ::testing::Test {
  protected:
    void SetUp() override {
        // Short: error messages cut quoted paths at 60 characters.
        static int count = 0;
        dir_ = std::filesystem::temp_directory_path() /
               ("clb-u" + std::to_string(::getpid()) + "-" + std::to_string(++count));
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / "admin.users").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    void write(const std::string& text) { std::ofstream(path_) << text; }

    // The admin section at lines 1-3 (users_file's value at 3:15), then a service.
    std::string config_text() const {
        return "admin:\n  listen: 127.0.0.1:9090\n  users_file: " + path_ + "\n" +
               std::string(kOneService).substr(1);
    }

    std::filesystem::path dir_;
    std::string path_;
};

TEST_F(UsersFile, ReadsUsersSkippingCommentsAndBlankLines) {
    write("# contrail-lb admin users\n\nalice:" + std::string(kYescrypt) +
          "\n  bob:" + std::string(kSha512) + "  \r\ncarol:" + std::string(kSha256) +
          "\ndave:" + std::string(kBcrypt));
    auto config = load_ok(config_text());
    ASSERT_TRUE(config);
    EXPECT_EQ(config->admin.users_file, path_);
    ASSERT_EQ(config->admin.users.size(), 4u);
    EXPECT_EQ(config->admin.users[0], (AdminUser{"alice", std::string(kYescrypt)}));
    EXPECT_EQ(config->admin.users[1], (AdminUser{"bob", std::string(kSha512)}));
    EXPECT_EQ(config->admin.users[2].name, "carol");
    EXPECT_EQ(config->admin.users[3].hash, kBcrypt);
}

TEST_F(UsersFile, NoUsersFileNoUsers) {
    auto config = load_ok(std::string("admin:\n  listen: 127.0.0.1:9090\n") +
                          std::string(kOneService).substr(1));
    ASSERT_TRUE(config);
    EXPECT_TRUE(config->admin.users.empty());
    EXPECT_TRUE(config->admin.users_file.empty());
}

TEST_F(UsersFile, PlainTextPasswordIsRefusedWithoutQuotingIt) {
    write("# users\nalice:" + std::string(kYescrypt) + "\nbob:hunter2\n");
    EXPECT_EQ(errors_of(config_text()),
              Errors{"t.yaml:3:15: admin.users_file: " + path_ +
                     ":3: user \"bob\": not a crypt(3) hash (a plain-text password?)"});
}

TEST_F(UsersFile, EveryBadLineIsReportedWithItsOwnLineNumber) {
    write("alice:" + std::string(kMd5) + "\nno colon here\n:" + std::string(kSha256) +
          "\nbob:$6$onlysalt\nalice2:" + std::string(kSha256) + "\nalice2:" + std::string(kSha512) +
          "\n");
    EXPECT_EQ(
        errors_of(config_text()),
        (Errors{"t.yaml:3:15: admin.users_file: " + path_ +
                    ":1: user \"alice\": unsupported or malformed crypt(3) hash (scheme \"$1$\"): "
                    "use yescrypt $y$, SHA-512 $6$, SHA-256 $5$ or bcrypt $2b$/$2y$",
                "t.yaml:3:15: admin.users_file: " + path_ + ":2: expected \"user:crypt(3) hash\"",
                "t.yaml:3:15: admin.users_file: " + path_ +
                    ":3: invalid user name: use visible ASCII characters, no ':'",
                "t.yaml:3:15: admin.users_file: " + path_ +
                    ":4: user \"bob\": unsupported or malformed crypt(3) hash (scheme \"$6$\"): "
                    "use yescrypt $y$, SHA-512 $6$, SHA-256 $5$ or bcrypt $2b$/$2y$",
                "t.yaml:3:15: admin.users_file: " + path_ +
                    ":6: duplicate user \"alice2\" (first at line 5)"}));
}

TEST_F(UsersFile, EmptyOrMissingOrUnreadableFileIsAnError) {
    write("# nobody yet\n\n");
    EXPECT_EQ(errors_of(config_text()),
              Errors{"t.yaml:3:15: admin.users_file: " + path_ +
                     ": no users: add \"user:HASH\" lines (mkpasswd -m yescrypt makes a HASH)"});
    std::filesystem::remove(path_);
    EXPECT_EQ(errors_of(config_text()), Errors{"t.yaml:3:15: admin.users_file: cannot read \"" +
                                               path_ + "\": No such file or directory"});
    std::filesystem::create_directory(path_);
    EXPECT_EQ(errors_of(config_text()),
              Errors{"t.yaml:3:15: admin.users_file: \"" + path_ + "\" is not a regular file"});
}

TEST(PasswordHash, SupportedSchemes) {
    for (auto hash : {kYescrypt, kSha512, kSha256, kBcrypt})
        EXPECT_TRUE(supported_password_hash(hash)) << hash;
    for (std::string_view hash :
         {kMd5, std::string_view("hunter2"), std::string_view(""), std::string_view("$y$"),
          std::string_view("$6$salt"), std::string_view("$6$salt$short"),
          std::string_view("$7$CU..../....abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"),
          std::string_view("$6$6.CbtpzTi1PmSHGx$TvRz3CGEro0SAGhC kazu8zmXOH.5OR7q0S3G")})
        EXPECT_FALSE(supported_password_hash(hash)) << hash;
}

}  // namespace
}  // namespace clb::config::test
