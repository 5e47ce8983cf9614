package shardline;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;

import javax.security.sasl.AuthenticationException;

import org.apache.hive.service.auth.PasswdAuthenticationProvider;

/**
 * HiveServer2 CUSTOM authentication for the warehouse's Thrift server: a connection must give the
 * password stored in the file named by the JVM property {@code shardline.thrift.secret.file} (written
 * 0600 by {@code shardline warehouse start}); any user name. The file is read at each login, so a
 * rotated credential takes effect without a restart. Compared in constant time; never logged.
 */
public final class PasswordAuth implements PasswdAuthenticationProvider {

    static final String SECRET_FILE = "shardline.thrift.secret.file";

    @Override
    public void Authenticate(String user, String password) throws AuthenticationException {
        String file = System.getProperty(SECRET_FILE);
        if (file == null || password == null || user == null || user.isEmpty()) {
            throw new AuthenticationException("authentication failed");
        }
        byte[] expected;
        try {
            expected = new String(Files.readAllBytes(Paths.get(file)), StandardCharsets.UTF_8).trim()
                .getBytes(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new AuthenticationException("authentication failed: the server cannot read its credential");
        }
        if (expected.length == 0 || !MessageDigest.isEqual(expected, password.getBytes(StandardCharsets.UTF_8))) {
            throw new AuthenticationException("authentication failed");
        }
    }
}
