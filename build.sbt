// synthohive-spark: the JVM part, for people who build it with sbt.
// Without sbt, `python jvm/build_jar.py` builds the same jar with the Scala compiler in pyspark.
//
//   sbt package              Scala 2.13, Spark 4.x   -> target/scala-2.13/synthohive-spark_2.13.jar
//   sbt ++2.12.18 package    Scala 2.12, Spark 3.5.x -> target/scala-2.12/synthohive-spark_2.12.jar
//   sbt +package             both
//   sbt pythonJar            package and copy the jar into python/synthohive_spark/jars/
//   sbt -Dspark.version=4.0.1 package   build against another Spark version
//
// Spark is "provided": the cluster (or pyspark) supplies it at run time.

lazy val scala213 = "2.13.16"
lazy val scala212 = "2.12.18"

// The Spark line each Scala binary version is built against (Spark 4 is Scala 2.13 only).
def defaultSparkVersion(scalaBinary: String): String = scalaBinary match {
  case "2.12" => "3.5.5"
  case _      => "4.0.1"
}

lazy val pythonJar = taskKey[File]("Packages the jar and copies it into python/synthohive_spark/jars")

ThisBuild / organization := "com.synthohive"
ThisBuild / version      := "0.1.0"
ThisBuild / scalaVersion := scala213

lazy val root = (project in file("."))
  .settings(
    name := "synthohive-spark",
    crossScalaVersions := Seq(scala213, scala212),

    // Sources live under jvm/ so that the repository root stays the Python project.
    Compile / sourceDirectory := baseDirectory.value / "jvm" / "src" / "main",
    Test / sourceDirectory    := baseDirectory.value / "jvm" / "src" / "test",
    target                    := baseDirectory.value / "jvm" / "target",

    libraryDependencies ++= {
      val spark = sys.props.getOrElse("spark.version", defaultSparkVersion(scalaBinaryVersion.value))
      Seq(
        "org.apache.spark" %% "spark-core"  % spark % Provided,
        "org.apache.spark" %% "spark-sql"   % spark % Provided,
        "org.apache.spark" %% "spark-mllib" % spark % Provided,
        "org.scalatest"    %% "scalatest"   % "3.2.19" % Test
      )
    },

    scalacOptions ++= Seq("-encoding", "UTF-8", "-deprecation", "-feature", "-unchecked"),
    scalacOptions ++= (if (scalaBinaryVersion.value == "2.12") Seq("-target:jvm-1.8") else Nil),
    javacOptions ++= Seq("-source", "8", "-target", "8"),

    // The jar is named synthohive-spark_<scala binary>.jar (no version), the name that
    // synthohive_spark.session looks for.
    Compile / packageBin / artifactName := { (sv: ScalaVersion, _: ModuleID, a: Artifact) =>
      s"${a.name}_${sv.binary}.${a.extension}"
    },
    Compile / packageBin / packageOptions += Package.ManifestAttributes(
      "Implementation-Title"   -> name.value,
      "Implementation-Version" -> version.value,
      "Scala-Version"          -> scalaVersion.value,
      "Spark-Version"          -> sys.props.getOrElse("spark.version",
                                    defaultSparkVersion(scalaBinaryVersion.value))
    ),

    pythonJar := {
      val jar  = (Compile / packageBin).value
      val dest = baseDirectory.value / "python" / "synthohive_spark" / "jars" / jar.getName
      IO.copyFile(jar, dest)
      streams.value.log.info(s"Copied $jar to $dest")
      dest
    },

    // Spark tests run in a forked JVM with the module openings Spark needs on Java 17.
    Test / fork := true,
    Test / parallelExecution := false,
    Test / javaOptions ++= Seq(
      "-Xmx2g",
      "--add-opens=java.base/java.lang=ALL-UNNAMED",
      "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
      "--add-opens=java.base/java.io=ALL-UNNAMED",
      "--add-opens=java.base/java.net=ALL-UNNAMED",
      "--add-opens=java.base/java.nio=ALL-UNNAMED",
      "--add-opens=java.base/java.util=ALL-UNNAMED",
      "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
      "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
      "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
      "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
      "-Djdk.reflect.useDirectMethodHandle=false"
    )
  )
